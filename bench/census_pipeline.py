"""The whole census pipeline, whole process, against TFX's LocalDagRunner on the same CSVs.

Ours: ``examples/census/pipeline.py`` (ExampleGen -> StatisticsGen -> SchemaGen ->
ExampleValidator -> Transform -> Trainer -> baseline -> Evaluator with 200 bootstrap
resamples -> InfraValidator -> ModelCard -> Pusher) run by ``conveyor run`` in a fresh
project: a cold run, then fully cached reruns. TFX: the anchor script
``anchors/tfx/tfx_pipeline.py --trainer`` (CsvExampleGen -> StatisticsGen -> SchemaGen ->
ExampleValidator -> Trainer -> Evaluator) with a fresh root, then again for its cached rerun.
Same data as the anchor: ``make_tabular.py --rows 200000`` and its first 10,000 rows.

    python bench/census_pipeline.py                      # ours only (10k and 200k rows)
    python bench/census_pipeline.py --tfx ~/venvs/tfx/bin/python --reps 3

Each cold run starts with no warm agent (``CONVEYOR_AGENT=off``: a plain process, like the
anchor); cached reruns are measured both ways. Per-step times come from
``conveyor runs show --json``. Prints a table and one RESULT JSON line per measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CONVEYOR = Path(sys.executable).with_name("conveyor")
ANCHOR = Path(os.environ.get("CONVEYOR_SHARED", REPO.parent / "shared")) / "bench" / "anchors"


def _data(folder: Path, rows: int) -> Path:
    """``<folder>/c<rows>/data.csv``: the anchor's files (200k generated, 10k its head)."""
    big = folder / "c200k.csv"
    if not big.exists():
        subprocess.run(
            [sys.executable, str(HERE / "make_tabular.py"), "--rows", "200000", "--out", str(big)],
            check=True,
            capture_output=True,
        )
    target = folder / f"c{rows}" / "data.csv"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(big, encoding="utf-8") as src, open(target, "w", encoding="utf-8") as dst:
            for i, line in enumerate(src):
                if i > rows:
                    break
                dst.write(line)
    return target


def _timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def _steps(project: Path, env: dict[str, str], run_id: str) -> dict[str, float]:
    out = subprocess.run(
        [str(CONVEYOR), "runs", "show", run_id, "--json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    steps = json.loads(out).get("steps", [])
    return {
        s["task"]: round(float(s.get("properties", {}).get("duration_seconds") or 0.0), 2)
        for s in steps
    }


def ours(csv: Path, work: Path, cached_reps: int) -> dict[str, object]:
    """One cold run and ``cached_reps`` cached reruns (agent off, then on)."""
    project = work / "census"
    shutil.rmtree(project, ignore_errors=True)
    (project / "data").mkdir(parents=True)
    shutil.copy(REPO / "examples" / "census" / "pipeline.py", project / "pipeline.py")
    shutil.copy(csv, project / "data" / "census.csv")
    base = {**os.environ, "CONVEYOR_HOME": str(project / ".conveyor")}
    base.pop("CONVEYOR_AGENT", None)
    off = {**base, "CONVEYOR_AGENT": "off"}
    agent_dir = work / "agent"
    agent_dir.mkdir(mode=0o700, exist_ok=True)
    on = {**base, "CONVEYOR_AGENT_DIR": str(agent_dir)}
    run = [str(CONVEYOR), "run", "pipeline.py", "--json"]
    cold, stdout = _timed(run, project, off)
    report = json.loads(stdout)
    steps = _steps(project, off, report["run_id"])
    cached_off = [_timed(run, project, off)[0] for _ in range(cached_reps)]
    _timed(run, project, on)  # starts the agent
    cached_on = [_timed(run, project, on)[0] for _ in range(cached_reps)]
    subprocess.run([str(CONVEYOR), "agent", "stop"], env=on, capture_output=True, check=False)
    evaluator = report["tasks"]["evaluator"]["outputs"]["parameters"]["Output"]
    return {
        "cold_s": round(cold, 2),
        "steps_s": steps,
        "trainer_share": round(steps.get("trainer", 0.0) / cold, 3),
        "cached_agent_off_s": round(statistics.median(cached_off), 3),
        "cached_agent_on_s": round(statistics.median(cached_on), 3),
        "blessed": evaluator,
        "auc": report["tasks"]["trainer"]["outputs"]["parameters"]["Output"],
    }


def tfx(python: str, csv: Path, work: Path) -> dict[str, object]:
    """The anchor: cold, then cached, each a whole process."""
    script = ANCHOR / "tfx" / "tfx_pipeline.py"
    root = work / "tfxroot"
    shutil.rmtree(root, ignore_errors=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [python, str(script), "--trainer", "--data-dir", str(csv.parent), "--root", str(root)]
    cold, out = _timed(cmd, work, env)
    cached, _ = _timed(cmd, work, env)
    result = json.loads([x for x in out.splitlines() if x.startswith("RESULT ")][-1][7:])
    return {
        "cold_s": round(cold, 2),
        "cached_s": round(cached, 2),
        "steps_s": result["per_component_s"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 200_000])
    parser.add_argument("--reps", type=int, default=1, help="repetitions (medians reported)")
    parser.add_argument("--cached-reps", type=int, default=3)
    parser.add_argument("--tfx", help="python of a TFX 1.16 venv (anchors/tfx/run.sh install)")
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "conveyor-bd"))
    args = parser.parse_args(argv)
    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    ok = True
    for rows in args.rows:
        csv = _data(data, rows)
        mine, theirs = [], []
        for _ in range(args.reps):
            with tempfile.TemporaryDirectory() as work:
                mine.append(ours(csv, Path(work), args.cached_reps))
                if args.tfx:
                    theirs.append(tfx(args.tfx, csv, Path(work)))
                print(
                    "RESULT "
                    + json.dumps(
                        {"rows": rows, "ours": mine[-1], "tfx": theirs[-1] if theirs else None}
                    ),
                    flush=True,
                )
        cold = statistics.median(float(m["cold_s"]) for m in mine)  # type: ignore[arg-type]
        cached = statistics.median(float(m["cached_agent_off_s"]) for m in mine)  # type: ignore[arg-type]
        cached_on = statistics.median(float(m["cached_agent_on_s"]) for m in mine)  # type: ignore[arg-type]
        line = (
            f"{rows:>7,} rows: ours cold {cold:.1f} s (trainer {mine[0]['trainer_share']:.0%}), "
            f"cached {cached:.2f} s (agent off) / {cached_on:.2f} s (agent on)"
        )
        if theirs:
            t_cold = statistics.median(float(t["cold_s"]) for t in theirs)  # type: ignore[arg-type]
            t_cached = statistics.median(float(t["cached_s"]) for t in theirs)  # type: ignore[arg-type]
            line += (
                f"; TFX cold {t_cold:.1f} s, cached {t_cached:.1f} s -> {t_cold / cold:.1f}x cold, "
                f"{t_cached / cached:.0f}x cached"
            )
            ok = ok and t_cold / cold >= 10
        ok = ok and cached_on < 1.0
        print(line, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
