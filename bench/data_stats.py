"""Data statistics: whole-process ``conveyor data stats`` vs pyarrow ``read_csv`` alone (the
floor) vs TFDV 1.16 (DataFrame path, optionally its CSV path), side by side on the census CSV.

Cases, each one whole process measured as a tree (wall; CPU and peak memory of the process, its
descendants and the warm agent's side; see ``_shared.py``), interleaved round-robin with the
first case rotating every round:

- ``floor``: ``python -c "pyarrow.csv.read_csv(PATH)"``, the time to just read the file;
- ``conveyor``, ``conveyor.noagent``, ``conveyor.first``: ``conveyor data stats PATH -o OUT
  --json`` with the warm agent up, as a plain process, and as the first command ever;
- ``tfdv.df``: the anchor's own ``tfdv_stats.py df`` (pandas ``read_csv`` +
  ``generate_statistics_from_dataframe``) in the ``tfdv`` (or ``tfx``) venv, when it exists;
- ``tfdv.csv`` (``--tfdv-csv``): its ``generate_statistics_from_csv`` path (slow).

Every output is checked: the floor's row count, our statistics (row count, every column of the
header, count + missing = rows per feature, ``age``'s mean equal to numpy's on the same column),
TFDV's number of examples and features. Targets (``bench/README.md``): within 3x of the floor,
at least 10x faster than TFDV's DataFrame path and 50x than its CSV path, under a quarter of its
peak memory. Without the TFDV venv its targets are not decided ("indicative", from ANCHORS.md).
Exit status 1 if a check failed or a target was missed.

    .venv/bin/python bench/data_stats.py                      # 200,000 rows, 3 rounds
    .venv/bin/python bench/data_stats.py --rows 1000000 --tfdv-csv   # the targets' size
    .venv/bin/python bench/data_stats.py --rows 10000000 --reps 1 --skip-tfdv   # scaling
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _shared as shared

FLOOR = "import sys, pyarrow.csv as c; print('ROWS', c.read_csv(sys.argv[1]).num_rows)"
FLOOR_TARGET = 3.0  # at most this many times the floor
TFDV_DF_TARGET = 10.0
TFDV_CSV_TARGET = 50.0
MEMORY_TARGET = 0.25  # at most this share of TFDV's peak memory
# ANCHORS.md (loaded machine, 1M rows): TFDV's DataFrame path about 7.5 s + 15 s of import,
# 1.2 GB. Indicative only: (fixed s, s per 1M rows, MB).
TFDV_DF_ANCHOR = (15.0, 7.5, 1200.0)


@dataclass
class Case:
    name: str
    argv: list[str]
    env: dict[str, str]
    check: Callable[[str, Path], str | None]
    mode: str = ""
    out: Path | None = None  # the file the command writes (removed before each run)


@dataclass
class Record(shared.Timing):
    error: str | None = None


def data_file(rows: int, folder: Path) -> Path:
    """The census-like CSV of ``rows`` rows (made once by make_tabular.py)."""
    path = folder / f"census_{rows}.csv"
    if not path.exists():
        make = shared.HERE / "make_tabular.py"
        tmp = path.with_suffix(".tmp")
        subprocess.run(
            [sys.executable, str(make), "--rows", str(rows), "--out", str(tmp)], check=True
        )
        tmp.rename(path)
    return path


def expected_facts(path: Path) -> dict[str, Any]:
    """What the statistics must say, computed independently (pyarrow + numpy, untimed)."""
    import numpy as np
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(path)
    return {
        "rows": table.num_rows,
        "columns": table.column_names,
        "age_mean": float(np.mean(table.column("age").to_numpy())),
    }


def check_floor(facts: dict[str, Any]) -> Callable[[str, Path], str | None]:
    def check(output: str, _out: Path) -> str | None:
        if f"ROWS {facts['rows']}" not in output:
            return f"read_csv did not report {facts['rows']} rows: {output.strip()[-200:]}"
        return None

    return check


def check_ours(facts: dict[str, Any]) -> Callable[[str, Path], str | None]:
    def check(_output: str, out: Path) -> str | None:
        try:
            dataset = json.loads(out.read_text())["datasets"][0]
        except (OSError, ValueError, KeyError, IndexError) as exc:
            return f"no statistics in {out}: {exc}"
        rows = facts["rows"]
        if dataset.get("num_rows") != rows:
            return f"num_rows {dataset.get('num_rows')}, not {rows}"
        features = {f["name"]: f for f in dataset["features"]}
        if sorted(features) != sorted(facts["columns"]):
            return f"features {sorted(features)}, not the header's {sorted(facts['columns'])}"
        for name, feature in features.items():
            if feature.get("count", 0) + feature.get("missing", 0) != rows:
                return f"{name}: count {feature.get('count')} + missing {feature.get('missing')}"
        mean = features["age"].get("numeric", {}).get("mean")
        if mean is None or abs(mean - facts["age_mean"]) > 1e-9 * max(1.0, abs(mean)):
            return f"age mean {mean}, numpy says {facts['age_mean']}"
        return None

    return check


def check_tfdv(facts: dict[str, Any]) -> Callable[[str, Path], str | None]:
    def check(output: str, _out: Path) -> str | None:
        lines = [ln for ln in output.splitlines() if ln.startswith("RESULT ")]
        if not lines:
            return f"no RESULT line: {output.strip()[-300:]}"
        result = json.loads(lines[-1][7:])
        found = (result.get("num_examples"), result.get("features"))
        if found != (facts["rows"], len(facts["columns"])):
            return f"TFDV saw {found} (examples, features), not {facts['rows']}"
        return None

    return check


def build_cases(
    args: argparse.Namespace, path: Path, scratch: Path
) -> tuple[list[Case], str, dict[str, Any]]:
    """The cases, TFDV's status, and the facts the outputs are checked against."""
    facts = expected_facts(path)
    env = shared.clean_env()
    cases = [Case("floor", [sys.executable, "-c", FLOOR, str(path)], env, check_floor(facts))]
    out = scratch / "stats.json"
    ours = [args.conveyor, "data", "stats", str(path), "-o", str(out), "--json"]
    for mode in args.modes:
        name = "conveyor" + {"warm": "", "off": ".noagent", "first": ".first"}[mode]
        cases.append(Case(name, ours, env, check_ours(facts), mode, out))
    tfdv = shared.venv_python(args.venvs, "tfdv", "tfx", module="tensorflow_data_validation")
    script = shared.anchors_dir(args) / "tfx" / "tfdv_stats.py"
    status = shared.anchor_status("tfdv (or tfx)", tfdv, script)
    if args.skip_tfdv:
        status = f"{shared.INDICATIVE}: --skip-tfdv"
    elif tfdv is not None and script.exists():
        tf_env = shared.clean_env({"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"})
        modes = ("df", "csv") if args.tfdv_csv else ("df",)
        for mode in modes:
            argv = [str(tfdv), str(script), mode, str(path), str(scratch / f"{mode}.pb")]
            cases.append(Case(f"tfdv.{mode}", argv, tf_env, check_tfdv(facts)))
    return cases, status, facts


def run_case(case: Case, rep: int, scratch: Path, agents: shared.Agents) -> Record:
    env = agents.env(case.mode, case.env) if case.mode else case.env
    agents.before(case.mode, env)
    if case.out is not None:
        case.out.unlink(missing_ok=True)
    try:
        rec, text = shared.run_timed(Record, case.name, rep, [(case.argv, env)], scratch, scratch)
    finally:
        agents.after(case.mode, env)
    if rec.rc != 0:
        rec.error = shared.exit_error(rec.rc, text)
    else:
        rec.error = case.check(text, case.out or scratch)
    return rec


@dataclass
class Summary(shared.Stats):
    failures: int
    errors: list[str] = field(default_factory=list)


def summarize(records: list[Record], names: list[str]) -> dict[str, Summary]:
    out = {}
    for name in names:
        runs = [r for r in records if r.case == name]
        good = [r for r in runs if r.error is None] or runs
        out[name] = Summary(
            **shared.timing_stats(name, good),
            failures=sum(r.error is not None for r in runs),
            errors=sorted({r.error for r in runs if r.error})[:3],
        )
    return out


def targets(stats: dict[str, Summary], status: str, rows: int) -> list[shared.Target]:
    """The floor target for each mode, then TFDV's (time for each mode, memory)."""
    out = []
    floor = stats["floor"].median_s
    modes = [n for n in ("conveyor", "conveyor.noagent", "conveyor.first") if n in stats]
    for name in modes:
        ours = stats[name].median_s
        out.append(
            shared.Target(
                f"{name}: within {FLOOR_TARGET:g}x of pyarrow read_csv alone",
                f"{ours:.2f} / {floor:.2f} s = {ours / floor:.2f}x",
                None if name.endswith(".first") else ours / floor <= FLOOR_TARGET,
            )
        )
    for tfdv, goal in (("tfdv.df", TFDV_DF_TARGET), ("tfdv.csv", TFDV_CSV_TARGET)):
        if tfdv in stats:
            their_s, their_mb, indicative = stats[tfdv].median_s, stats[tfdv].tree_pss_mb, ""
        elif tfdv == "tfdv.df":
            fixed, per_million, their_mb = TFDV_DF_ANCHOR
            their_s = fixed + per_million * rows / 1_000_000
            indicative = f"{status}; ANCHORS.md figure scaled to {rows:,} rows"
        else:
            continue
        for name in modes:
            ours = stats[name].median_s
            decided = not name.endswith(".first")
            out.append(
                shared.Target(
                    f"{name}: >= {goal:g}x faster than {tfdv}",
                    f"{their_s:.2f} / {ours:.2f} s = {their_s / ours:.1f}x",
                    their_s / ours >= goal if decided else None,
                    indicative if decided else "",
                )
            )
        for name in modes:
            mine = stats[name].tree_pss_mb
            out.append(
                shared.Target(
                    f"{name}: peak memory (whole tree, PSS) under {MEMORY_TARGET:g} of {tfdv}'s",
                    f"{mine:.0f} / {their_mb:.0f} MB = {mine / their_mb:.2f}",
                    mine / their_mb <= MEMORY_TARGET if not name.endswith(".first") else None,
                    indicative if not name.endswith(".first") else "",
                )
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = shared.bench_parser(__doc__)
    parser.add_argument("--rows", type=int, default=200_000, help="rows (default 200,000)")
    parser.add_argument(
        "--data-dir", type=Path, help="where the CSVs are made once and reused (default: scratch)"
    )
    parser.add_argument("--skip-tfdv", action="store_true")
    parser.add_argument("--tfdv-csv", action="store_true", help="also TFDV's CSV path (slow)")
    parser.add_argument(
        "--modes", nargs="+", choices=shared.AGENT_MODES, default=list(shared.AGENT_MODES)
    )
    shared.add_setup_arguments(parser, "where the tfdv (or tfx) venv lives")
    args = shared.parse_args(parser, argv)

    with shared.scratch_dir("conveyor-stats-bench-", args.keep) as scratch:
        folder = args.data_dir or scratch
        folder.mkdir(parents=True, exist_ok=True)
        path = data_file(args.rows, folder)
        cases, status, facts = build_cases(args, path, scratch)
        print(f"{args.rows:,} rows, {path.stat().st_size / 1e6:.1f} MB; TFDV: {status}")
        agents = shared.Agents(args.conveyor, scratch)
        try:
            rounds = shared.run_rounds(
                cases, [], lambda c, r: run_case(c, r, scratch, agents), args, scratch
            )
        finally:
            agents.close()
        assert rounds is not None

    stats = summarize(rounds.records, [c.name for c in cases])
    rows = targets(stats, status, facts["rows"])
    meta = {**shared.base_meta(args, rounds), "rows": args.rows, "tfdv": status}
    shared.print_header(meta)
    print("\n| what | wall (median, min-max) | CPU s | peak memory, tree PSS | max RSS |")
    print("|---|---|---|---|---|")
    for s in stats.values():
        print(
            f"| {s.case} | {s.median_s:.2f} s ({s.min_s:.2f}-{s.max_s:.2f}) | {s.cpu_s:.2f} "
            f"| {s.tree_pss_mb:.0f} MB | {s.maxrss_mb:.0f} MB |"
            + (f" {s.failures} failed: {s.errors[0][:200]}" if s.failures else "")
        )
    if "conveyor.noagent" in stats:
        print(f"rows/s (agent off): {args.rows / stats['conveyor.noagent'].median_s:,.0f}")
    shared.print_targets(rows)
    shared.write_json(args.json, meta, stats, {"targets": [t.row() for t in rows]}, rounds.records)
    return shared.exit_status(stats, rows)


if __name__ == "__main__":
    sys.exit(main())
