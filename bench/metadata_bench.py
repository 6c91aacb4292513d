"""Benchmark of the lineage store: recording executions one per transaction, then lineage queries.

Workload (comparable to the ML Metadata anchor, /work/shared/bench/anchors/tfx/mlmd_bench.py):
N executions organised as N/DEPTH pipeline runs, each a chain of DEPTH steps. Every run starts
with one "import" execution that outputs the raw data and the first params artifact. Step k
inputs the previous step's output and a params artifact and outputs a model (plus the params
artifact of step k+1, because the store only creates artifacts as execution outputs). Every
execution is associated with the run's context, its outputs attributed to it. This writes a
superset of the anchor's rows (same artifacts, 4 events per step instead of 3), one execution
per transaction, as a runner does.

Then the upstream lineage of the final output of random runs (DEPTH + 1 executions deep) is
queried; the store is grown to --large executions and the queries repeated.

    python bench/metadata_bench.py --uri sqlite:////tmp/conveyor_bench.db
    python bench/metadata_bench.py --uri 'postgresql://postgres@127.0.0.1:5432/test?schema=bench'
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

from conveyor.metadata import CONTEXT_RUN, ExecutionState, MetadataStore, NewArtifact, connect

MLMD_ANCHOR_S = 68.4  # ANCHORS.md: MLMD 1.16 on SQLite, 10,000 executions put one at a time


def _reset(uri: str) -> None:
    """Start from an empty database: delete the SQLite file, or drop the PostgreSQL schema."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    elif uri.startswith("postgres") and "schema=" in uri:
        import sqlalchemy as sa

        schema = uri.split("schema=")[1].split("&")[0]
        base = uri.split("?")[0].replace("postgresql://", "postgresql+psycopg://", 1)
        engine = sa.create_engine(base)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


def record_runs(store: MetadataStore, first_run: int, runs: int, depth: int) -> list[int]:
    """Record ``runs`` chains of ``depth`` steps; return the final output artifact of each."""
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


def lineage_ms(store: MetadataStore, finals: list[int], queries: int, depth: int) -> list[float]:
    """Time full upstream-lineage queries of random final artifacts."""
    rng = random.Random(0)
    times = []
    for artifact_id in (rng.choice(finals) for _ in range(queries)):
        start = time.perf_counter()
        graph = store.lineage(artifact_id, "upstream")
        times.append((time.perf_counter() - start) * 1000)
        assert len(graph.executions) == depth + 1, len(graph.executions)
    return times


def _spread(ms: list[float]) -> str:
    p95 = sorted(ms)[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):.2f} ms, p95 {p95:.2f} ms, max {max(ms):.2f} ms"


def main() -> int:
    """Run the benchmark and print a table of figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", default="sqlite:////tmp/conveyor_metadata_bench.db")
    parser.add_argument("--executions", type=int, default=10_000)
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--large", type=int, default=100_000, help="0 to skip the large store")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="do not empty the store first")
    parser.add_argument(
        "--mlmd-seconds",
        type=float,
        default=MLMD_ANCHOR_S,
        help="MLMD's time for 10,000 executions measured side by side (anchors/tfx/mlmd_bench.py"
        " --mode per_exec); default: the ANCHORS.md figure",
    )
    args = parser.parse_args()

    if not args.keep:
        _reset(args.uri)
    start = time.perf_counter()
    store = connect(args.uri)
    connect_ms = (time.perf_counter() - start) * 1000
    store.close()
    start = time.perf_counter()
    store = connect(args.uri)
    reconnect_ms = (time.perf_counter() - start) * 1000

    runs = args.executions // args.depth
    start = time.perf_counter()
    finals = record_runs(store, 0, runs, args.depth)
    record_s = time.perf_counter() - start
    steps = runs * args.depth
    written = steps + runs  # plus one import execution per run
    small = lineage_ms(store, finals, args.queries, args.depth)

    rows = [
        ("store", args.uri.split("@")[-1]),
        ("first connect (creates schema)", f"{connect_ms:.1f} ms"),
        ("connect to migrated store", f"{reconnect_ms:.1f} ms"),
        ("executions recorded (steps + imports)", f"{written:,} ({steps:,} + {runs:,})"),
        (
            "artifacts / events written",
            f"{runs * (2 * args.depth + 1):,} / {runs * (4 * args.depth + 1):,}",
        ),
        ("total seconds, one execution per transaction", f"{record_s:.2f} s"),
        ("executions/s", f"{written / record_s:,.0f}"),
        ("10,000 steps would take", f"{record_s * 10_000 / steps:.2f} s"),
        (
            f"speed-up vs MLMD ({args.mlmd_seconds:g} s / 10,000)",
            f"{args.mlmd_seconds / (record_s * 10_000 / steps):.1f}x",
        ),
        (
            f"lineage, {args.depth + 1} executions deep, {written:,} in store",
            _spread(small),
        ),
    ]
    if args.large > args.executions:
        more = (args.large - args.executions) // args.depth
        start = time.perf_counter()
        record_runs(store, runs, more, args.depth)
        grow_s = time.perf_counter() - start
        total = written + more * (args.depth + 1)
        large = lineage_ms(store, finals, args.queries, args.depth)
        rows += [
            (
                f"grow to {total:,} executions",
                f"{grow_s:.1f} s ({more * (args.depth + 1) / grow_s:,.0f}/s)",
            ),
            (
                f"lineage, {args.depth + 1} executions deep, {total:,} in store",
                _spread(large),
            ),
        ]
    if args.uri.startswith("sqlite:///"):
        size = os.path.getsize(args.uri.removeprefix("sqlite:///")) / 2**20
        rows.append(("database file", f"{size:.1f} MiB"))
    store.close()

    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
