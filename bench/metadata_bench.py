"""Benchmark of the lineage store against ML Metadata, side by side: executions recorded one per
transaction, then upstream lineage queries.

Workload (the ML Metadata anchor's, ``SHARED/bench/anchors/tfx/mlmd_bench.py --mode per_exec``):
N executions organised as N/DEPTH pipeline runs, each a chain of DEPTH steps. Every run starts
with one "import" execution that outputs the raw data and the first params artifact. Step k
inputs the previous step's output and a params artifact and outputs a model (plus the params
artifact of step k+1, because the store only creates artifacts as execution outputs). Every
execution is associated with the run's context, its outputs attributed to it. This writes a
superset of the anchor's rows (same artifacts, 4 events per step instead of 3), one execution
per transaction, as a runner does.

Cases, each a whole process measured as a tree (wall, CPU, peak memory), interleaved
round-robin over ``--reps`` rounds:

- ``conveyor.full``: our SQLite store with ``PRAGMA synchronous = FULL``: every commit waits for
  the disk, as ML Metadata's SQLite does (rollback journal, SQLite's default FULL): the like-for-
  like comparison, on which the 10x target is decided;
- ``conveyor.normal``: our default (WAL, ``synchronous = NORMAL``: durable across a crash of the
  process, not of the machine); it then grows the store to ``--large`` executions and times the
  lineage queries again (target: under 20 ms at 50 deep);
- ``mlmd``: the anchor script in the ``mlmd`` (or ``tfx``) venv, when it exists; otherwise the
  ratio is computed against the ANCHORS.md figure and marked indicative.

Every lineage answer is checked (DEPTH + 1 executions and 2 x DEPTH + 1 artifacts upstream of a
run's last model; the anchor's own sizes for ML Metadata). Exit status 1 if a check failed or a
target was missed.

    python bench/metadata_bench.py                          # 2,000 / 10,000 executions, 2 rounds
    python bench/metadata_bench.py --executions 10000 --large 100000 --reps 3   # full size
    python bench/metadata_bench.py --uri postgresql://postgres@127.0.0.1:5432/test?schema=bench
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _shared as shared

MLMD_ANCHOR_S = 68.4  # ANCHORS.md: MLMD 1.16 on SQLite, 10,000 executions one at a time
WRITE_TARGET = 10.0  # at least this much faster than MLMD, one execution per transaction
LINEAGE_TARGET_MS = 20.0  # upstream lineage, 50 executions deep, median


# --- the worker: one side, in its own process --------------------------------------------------


def _reset(uri: str) -> None:
    """Start from an empty database: delete the SQLite file, or drop the PostgreSQL schema."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    elif uri.startswith("postgres") and "schema=" in uri:
        import psycopg

        schema = uri.split("schema=")[1].split("&")[0]
        with psycopg.connect(uri.split("?")[0], autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _set_synchronous(store: Any, level: str) -> None:
    """Make every connection of ``store`` use ``PRAGMA synchronous = level`` (checked)."""
    db = store._db  # the bench reaches in: the store has no option for this
    db.connect_hooks.append(lambda raw: raw.execute(f"PRAGMA synchronous = {level}"))
    db.close()  # reconnect with the hook (after the store's own setup)
    with db.transaction(write=True) as conn:
        found = conn.execute("PRAGMA synchronous").fetchone()[0]
    expected = {"OFF": 0, "NORMAL": 1, "FULL": 2, "EXTRA": 3}[level]
    if found != expected:
        raise SystemExit(f"PRAGMA synchronous is {found}, not {expected} ({level})")


def record_runs(store: Any, first_run: int, runs: int, depth: int) -> list[int]:
    """Record ``runs`` chains of ``depth`` steps; return the final output artifact of each."""
    from conveyor.metadata import CONTEXT_RUN, ExecutionState, NewArtifact

    finals = []
    for run in range(first_run, first_run + runs):
        ctx = store.put_context(CONTEXT_RUN, f"run-{run}").id
        _, (data, params) = store.record_execution(
            "Importer",
            f"r{run}-import",
            ExecutionState.COMPLETE,
            contexts=[ctx],
            outputs=[
                NewArtifact(key="data", type_name="Dataset", uri=f"/raw/{run}"),
                NewArtifact(key="params", type_name="Params", uri=f"/p/{run}/0"),
            ],
        )
        prev, params_id = data.id, params.id
        for step in range(depth):
            outputs = [
                NewArtifact(
                    key="model",
                    type_name="Model",
                    uri=f"/o/{run}/{step}",
                    properties={"split": "train"},
                )
            ]
            if step + 1 < depth:
                outputs.append(
                    NewArtifact(key="params", type_name="Params", uri=f"/p/{run}/{step + 1}")
                )
            _, records = store.record_execution(
                "Step",
                f"r{run}-s{step}",
                ExecutionState.COMPLETE,
                contexts=[ctx],
                inputs=[("data", prev), ("params", params_id)],
                outputs=outputs,
                properties={"step": step},
                cache_key=f"key-{run}-{step}",
            )
            prev = records[0].id
            params_id = records[-1].id
        finals.append(prev)
    return finals


def lineage(store: Any, finals: list[int], queries: int, depth: int) -> tuple[list[float], str]:
    """Time upstream-lineage queries of random final artifacts; the times and the first wrong
    answer ("" if every answer was right)."""
    rng = random.Random(0)
    times, wrong = [], ""
    for artifact_id in (rng.choice(finals) for _ in range(queries)):
        start = time.perf_counter()
        graph = store.lineage(artifact_id, "upstream")
        times.append((time.perf_counter() - start) * 1000)
        sizes = (len(graph.executions), len(graph.artifacts))
        if sizes != (depth + 1, 2 * depth + 1) and not wrong:
            wrong = f"lineage of {artifact_id}: {sizes} (executions, artifacts), expected "
            wrong += f"{(depth + 1, 2 * depth + 1)}"
    return times, wrong


def _ms(times: list[float]) -> dict[str, float]:
    p95 = sorted(times)[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return {"median": round(statistics.median(times), 3), "p95": round(p95, 3)}


def worker(args: argparse.Namespace) -> int:
    """One side of the bench (``--worker``): record, query, maybe grow; print RESULT json."""
    from conveyor.metadata import connect

    _reset(args.uri)
    t0 = time.perf_counter()
    store = connect(args.uri)
    connect_ms = (time.perf_counter() - t0) * 1000
    if args.sync:
        _set_synchronous(store, args.sync)
    runs = args.executions // args.depth
    t0 = time.perf_counter()
    finals = record_runs(store, 0, runs, args.depth)
    insert_s = time.perf_counter() - t0
    small, wrong = lineage(store, finals, args.queries, args.depth)
    result: dict[str, Any] = {
        "sync": args.sync or "default",
        "executions": runs * (args.depth + 1),
        "steps": runs * args.depth,
        "insert_s": round(insert_s, 3),
        "per_10k_steps_s": round(insert_s * 10_000 / (runs * args.depth), 3),
        "first_connect_ms": round(connect_ms, 1),
        "lineage_ms": _ms(small),
        "error": wrong,
    }
    if args.large > args.executions:
        more = (args.large - args.executions) // args.depth
        t0 = time.perf_counter()
        record_runs(store, runs, more, args.depth)
        result["grow_s"] = round(time.perf_counter() - t0, 2)
        result["large_executions"] = (runs + more) * (args.depth + 1)
        large, wrong = lineage(store, finals, args.queries, args.depth)
        result["large_lineage_ms"] = _ms(large)
        result["error"] = result["error"] or wrong
    store.close()
    if args.uri.startswith("sqlite:///"):
        size = Path(args.uri.removeprefix("sqlite:///")).stat().st_size
        result["db_mib"] = round(size / 2**20, 1)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


# --- the bench: cases side by side -------------------------------------------------------------


@dataclass
class Case:
    """One side, run as a whole process per round."""

    name: str
    argv: list[str]
    check: Any  # (result dict) -> error or None


@dataclass
class Record(shared.Timing):
    """One run of a side: its process tree's cost and the RESULT it printed."""

    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def _result(text: str) -> dict[str, Any]:
    lines = [ln for ln in text.splitlines() if ln.startswith("RESULT ")]
    parsed: dict[str, Any] = json.loads(lines[-1][7:]) if lines else {}
    return parsed


def _check_ours(result: dict[str, Any]) -> str | None:
    return result.get("error") or None


def _check_mlmd(depth: int, executions: int) -> Any:
    def check(result: dict[str, Any]) -> str | None:
        expected = [[2 * depth + 1, depth]]  # (artifacts, executions) upstream of a final
        for key in ("walk_result_sizes", "subgraph_result_sizes"):
            if result.get(key) != expected:
                return f"MLMD {key} {result.get(key)}, expected {expected}"
        if result.get("executions") != executions:
            return f"MLMD recorded {result.get('executions')} executions, not {executions}"
        return None

    return check


def build_cases(args: argparse.Namespace, scratch: Path) -> tuple[list[Case], str]:
    """Our sides and, when its venv exists, ML Metadata's; and the anchor's status."""
    me = [sys.executable, str(Path(__file__).resolve()), "--worker"]
    sizes = ["--depth", str(args.depth), "--queries", str(args.queries)]
    runs = args.executions // args.depth
    steps = runs * args.depth
    ours = [*me, *sizes, "--executions", str(args.executions)]
    if args.uri:
        cases = [Case("conveyor", [*ours, "--uri", args.uri, "--large", str(args.large)], None)]
    else:
        db = scratch / "conveyor.db"
        cases = [
            Case(
                "conveyor.full",
                [*ours, "--uri", f"sqlite:///{db}", "--sync", "FULL", "--large", "0"],
                None,
            ),
            Case(
                "conveyor.normal",
                [*ours, "--uri", f"sqlite:///{db}", "--large", str(args.large)],
                None,
            ),
        ]
    for case in cases:
        case.check = _check_ours
    python = None
    if not args.skip_anchors:
        python = shared.venv_python(args.venvs, "mlmd", "tfx", module="ml_metadata")
    script = shared.anchors_dir(args) / "tfx" / "mlmd_bench.py"
    status = shared.anchor_status("mlmd (or tfx)", python, script)
    if args.skip_anchors:
        status = f"{shared.INDICATIVE}: --skip-anchors"
    elif python is not None and script.exists():
        mlmd = [str(python), str(script), "--mode", "per_exec", "--db", str(scratch / "mlmd.db")]
        mlmd += ["--executions", str(steps), *sizes]
        cases.append(Case("mlmd", mlmd, _check_mlmd(args.depth, steps)))
    return cases, status


def run_case(case: Case, rep: int, scratch: Path) -> Record:
    env = shared.clean_env({"PYTHONWARNINGS": "ignore", "TF_CPP_MIN_LOG_LEVEL": "2"})
    rec, text = shared.run_timed(Record, case.name, rep, [(case.argv, env)], scratch, scratch)
    rec.result = _result(text)
    if rec.rc != 0:
        rec.error = shared.exit_error(rec.rc, text)
    elif not rec.result:
        rec.error = f"no RESULT line: {text.strip()[-300:]}"
    else:
        rec.error = case.check(rec.result)
    return rec


def _median(records: list[Record], case: str, *keys: str) -> float | None:
    values = []
    for r in records:
        if r.case == case and r.error is None:
            value: Any = r.result
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, int | float):
                values.append(float(value))
    return statistics.median(values) if values else None


def targets(records: list[Record], args: argparse.Namespace, status: str) -> list[shared.Target]:
    """The write ratios (FULL decides, NORMAL informational) and the lineage target."""
    rows = []
    steps = (args.executions // args.depth) * args.depth
    mlmd = _median(records, "mlmd", "insert_s")
    indicative = "" if mlmd is not None else status
    anchor = mlmd if mlmd is not None else MLMD_ANCHOR_S * steps / 10_000
    where = "side by side" if mlmd is not None else "ANCHORS.md (68.4 s per 10,000), scaled"
    for case, decides in (("conveyor.full", True), ("conveyor.normal", False), ("conveyor", False)):
        ours = _median(records, case, "insert_s")
        if ours is None:
            continue
        rows.append(
            shared.Target(
                f"{steps:,} steps one per transaction, {case}: >= {WRITE_TARGET:g}x faster than "
                f"ML Metadata{'' if decides else ' (informational: not the same durability)'}",
                f"MLMD {anchor:.2f} s ({where}) / ours {ours:.2f} s = {anchor / ours:.1f}x",
                (anchor / ours >= WRITE_TARGET) if decides else None,
                indicative if decides else "",
            )
        )
    for case in ("conveyor.normal", "conveyor"):
        large = _median(records, case, "large_lineage_ms", "median")
        small = _median(records, case, "lineage_ms", "median")
        n = _median(records, case, "large_executions")
        if large is None and small is None:
            continue
        value = large if large is not None else small
        assert value is not None
        size = f"{n:,.0f}" if n is not None else f"{args.executions:,}"
        rows.append(
            shared.Target(
                f"upstream lineage {args.depth + 1} executions deep, {size} in store: median < "
                f"{LINEAGE_TARGET_MS:g} ms",
                f"{value:.2f} ms",
                value < LINEAGE_TARGET_MS,
            )
        )
    walk = _median(records, "mlmd", "walk_ms_p50")
    sub = _median(records, "mlmd", "subgraph_ms_p50")
    if walk is not None and sub is not None:
        rows.append(
            shared.Target(
                f"ML Metadata lineage, {args.executions:,} in store (for reference)",
                f"walk {walk:.2f} ms, get_lineage_subgraph {sub:.2f} ms",
                None,
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = shared.bench_parser(__doc__, reps=2)
    parser.add_argument("--executions", type=int, default=2_000, help="steps timed per side")
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--large", type=int, default=10_000, help="grow ours to this (0: skip)")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--uri", help="our store elsewhere (e.g. PostgreSQL); default SQLite")
    parser.add_argument("--json", type=Path, help="write every run and the summary here")
    shared.add_location_arguments(parser, "where the mlmd (or tfx) venv lives")
    parser.add_argument("--skip-anchors", action="store_true", help="ours only")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sync", choices=["FULL", "NORMAL"], help=argparse.SUPPRESS)
    parser.set_defaults(warmup=0)
    args = shared.parse_args(parser, argv)
    if args.worker:
        return worker(args)

    with shared.scratch_dir("conveyor-metadata-bench-", args.keep) as scratch:
        cases, status = build_cases(args, scratch)
        print(f"ML Metadata: {status}", flush=True)
        rounds = shared.run_rounds(cases, [], lambda c, r: run_case(c, r, scratch), args, scratch)
        assert rounds is not None
    rows = targets(rounds.records, args, status)
    meta = {**shared.base_meta(args, rounds), "mlmd": status}
    shared.print_header(meta)
    print(f"\n{'case':<16} {'insert s':>9} {'lineage ms':>11} {'wall s':>8} {'CPU s':>7} "
          f"{'tree PSS MB':>11}  errors")  # fmt: skip
    for r in rounds.records:
        lin = r.result.get("lineage_ms", {}).get("median") or r.result.get("walk_ms_p50")
        print(
            f"{r.case:<16} {r.result.get('insert_s', float('nan')):>9.2f} "
            f"{lin if lin is not None else float('nan'):>11.2f} {r.wall_s:>8.2f} "
            f"{r.cpu_s:>7.2f} {r.tree_pss_mb:>11.0f}  {r.error or ''}"
        )
    shared.print_targets(rows)
    stats = {"all": argparse.Namespace(failures=sum(r.error is not None for r in rounds.records))}
    shared.write_json(args.json, meta, {}, {"targets": [t.row() for t in rows]}, rounds.records)
    return shared.exit_status(stats, rows)


if __name__ == "__main__":
    sys.exit(main())
