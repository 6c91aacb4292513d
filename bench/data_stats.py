"""Data statistics: whole-process ``conveyor data stats`` vs pyarrow ``read_csv`` alone (the
floor) vs TFDV 1.16 (DataFrame path, optionally its CSV path), interleaved, on the census CSV.

Every measurement is one fresh process under ``/usr/bin/time -v`` (wall clock, peak RSS).

    .venv/bin/python bench/data_stats.py                      # 1M rows, 3 reps, TFDV df path
    .venv/bin/python bench/data_stats.py --tfdv-csv           # + generate_statistics_from_csv
    .venv/bin/python bench/data_stats.py --rows 10000000 --reps 1 --skip-tfdv   # scaling
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
MAKE = str(REPO / "bench" / "make_tabular.py")
TFDV_SCRIPT = "/work/shared/bench/anchors/tfx/tfdv_stats.py"
NO_AGENT = "conveyor data stats, CONVEYOR_AGENT=off"
TFDV_PY = Path(os.environ.get("VENVS", Path.home() / "venvs")) / "tfdv" / "bin" / "python"
CLI = ["-m", "conveyor", "data"]
FLOOR = "import sys, pyarrow.csv as c; print(c.read_csv(sys.argv[1]).num_rows)"


def timed(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Wall seconds and peak RSS (MiB) of one process."""
    out = subprocess.run(
        ["/usr/bin/time", "-v", *cmd],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{out.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", out.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    assert wall and rss, out.stderr
    h, m, s = wall.groups()
    seconds = int(h or 0) * 3600 + int(m) * 60 + float(s)
    result = {"wall_s": round(seconds, 3), "rss_mib": round(int(rss.group(1)) / 1024, 1)}
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line:  # the TFDV script's own split: import vs work
        r = json.loads(line[7:])
        result.update({k: r[k] for k in ("import_s", "read_csv_s") if k in r})
        result["tfdv_s"] = r["wall_s"]
    return result


def data_file(rows: int, folder: Path) -> Path:
    path = folder / f"census_{rows}.csv"
    if not path.exists():
        subprocess.run([sys.executable, MAKE, "--rows", str(rows), "--out", str(path)], check=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--data-dir", default="/tmp/cvstats", help="where the CSVs are (re)used")
    ap.add_argument("--skip-tfdv", action="store_true")
    ap.add_argument("--tfdv-csv", action="store_true", help="also TFDV's CSV path (~3 min)")
    ap.add_argument("--json", default=None, help="write the raw figures here")
    args = ap.parse_args()

    folder = Path(args.data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = data_file(args.rows, folder)
    scratch = Path(tempfile.mkdtemp(prefix="cv-bench-stats-"))
    use_conveyor = shutil.which("conveyor", path=str(Path(PY).parent))
    registered = (
        use_conveyor
        and subprocess.run(
            [use_conveyor, "data", "--help"], capture_output=True, check=False
        ).returncode
        == 0
    )
    ours = ([str(use_conveyor), "data", "stats"] if registered else [PY, *CLI, "stats"]) + [
        str(path),
        "-o",
        str(scratch / "stats.json"),
        "--json",
    ]
    cases: dict[str, list[str]] = {"pyarrow read_csv (floor)": [PY, "-c", FLOOR, str(path)]}
    cases["conveyor data stats"] = ours
    # Through the warm agent (the default) the work happens in the agent's child, which
    # /usr/bin/time does not see: memory is measured on the same command without the agent.
    cases[NO_AGENT] = ours
    tfdv = TFDV_PY.exists() and not args.skip_tfdv
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}
    if tfdv:
        cases["TFDV read_csv + from_dataframe"] = [
            str(TFDV_PY),
            TFDV_SCRIPT,
            "df",
            str(path),
            str(scratch / "df.pb"),
        ]
    results: dict[str, list[dict[str, float]]] = {k: [] for k in cases}
    try:
        for rep in range(args.reps):
            for name, cmd in cases.items():  # interleaved: each rep runs every case once
                r = timed(
                    cmd,
                    env=env
                    if "TFDV" in name
                    else {"CONVEYOR_AGENT": "off"}
                    if name == NO_AGENT
                    else None,
                )
                results[name].append(r)
                print(f"rep {rep + 1} {name}: {r}", flush=True)
        if tfdv and args.tfdv_csv:
            cmd = [str(TFDV_PY), TFDV_SCRIPT, "csv", str(path), str(scratch / "csv.pb")]
            results["TFDV generate_statistics_from_csv"] = [timed(cmd, env=env)]
            print("TFDV csv:", results["TFDV generate_statistics_from_csv"][0], flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    def med(name: str, key: str = "wall_s") -> float:
        return statistics.median(r[key] for r in results[name])

    print(
        f"\n{args.rows:,} rows, {path.stat().st_size / 1e6:.1f} MB, median of {args.reps}, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    print("| what | wall (median, min-max) | peak RSS |\n|---|---|---|")
    for name, rs in results.items():
        walls = [r["wall_s"] for r in rs]
        print(
            f"| {name} | {med(name):.2f} s ({min(walls):.2f}-{max(walls):.2f}) "
            f"| {med(name, 'rss_mib'):.0f} MiB |"
        )
    ours_s, floor_s = med("conveyor data stats"), med("pyarrow read_csv (floor)")
    print(f"\nconveyor / floor: {ours_s / floor_s:.2f}x (target <= 3x)")
    print(f"rows/s: {args.rows / ours_s:,.0f}")
    for name in ("TFDV read_csv + from_dataframe", "TFDV generate_statistics_from_csv"):
        if name in results:
            print(
                f"{name} / conveyor: {med(name) / ours_s:.1f}x faster "
                f"({med(name) / med(NO_AGENT):.1f}x without the agent); memory "
                f"{med(NO_AGENT, 'rss_mib') / med(name, 'rss_mib'):.2f} of TFDV's"
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": args.rows, "results": results}, indent=2))


if __name__ == "__main__":
    main()
