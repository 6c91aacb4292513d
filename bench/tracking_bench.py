"""Benchmark of experiment tracking: ``conveyor`` one call at a time vs MLflow, side by side.

Same workloads and sizes on both sides, those of the MLflow anchor script
(``SHARED/bench/anchors/mlflow/tracking_bench.py --backend sqlite --only a,c``), on the same disk:

  (a) N runs, each ``start_run``, 10 ``log_params`` + 10 ``log_metric`` calls one at a time,
      ``end_run``;
  (c) one run, S ``log_metric`` calls of one metric (step=i).

Both sides count the same way: (a) calls per second = 20 calls per run over the wall time of
the whole loop (``start_run`` and ``end_run``, which writes what is buffered, included); (c)
S over the loop and ``end_run``. Each side is a whole process measured as a tree (CPU, peak
memory; ``_shared.py``), run ``--reps`` times, interleaved with the other. Everything is read
back afterwards (untimed) and checked: ours through the store (every run's 10 metric values,
10 parameters and COMPLETE state, the full step history), MLflow's through its SQLite file
(runs, parameters and metric rows) and its own history length. Without the ``mlflow`` venv the
ratio uses ANCHORS.md's figure and says "indicative". Exit status 1 if a check failed or the
target (at least 50x MLflow's calls per second in (a)) was missed.

    python bench/tracking_bench.py                       # 100 runs, 2,000 steps, 2 rounds
    python bench/tracking_bench.py --runs 1000 --steps 10000 --reps 3
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _shared as shared

ANCHOR_CALLS_PER_S = 42.0  # ANCHORS.md: MLflow 3.17 on SQLite, (a) log_metric calls/s (loaded)
TARGET = 50.0  # (a): at least this many times MLflow's calls per second


def conveyor_side(workdir: Path, runs: int, steps: int) -> dict[str, Any]:
    """(a) and (c) with ``conveyor.tracking`` on a new SQLite store in ``workdir``; checked."""
    from conveyor import tracking
    from conveyor.metadata import connect

    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    store = connect(f"sqlite:///{workdir}/metadata.db")
    rng = random.Random(1234)
    contexts = []
    t0 = time.perf_counter()
    for _ in range(runs):
        run = tracking.start_run("bench", experiment="a_single", metadata=store)
        for p in range(10):
            tracking.log_params({f"p{p}": rng.randint(0, 1000)})
        for m in range(10):
            tracking.log_metric(f"m{m}", rng.random())
        tracking.end_run()
        contexts.append(run.context_id)
    a_wall = time.perf_counter() - t0
    with tracking.start_run("steps", metadata=store) as run:
        t0 = time.perf_counter()
        for step in range(steps):
            tracking.log_metric("loss", 1.0 / (step + 1), step=step)
    c_wall = time.perf_counter() - t0  # includes end_run: the final flush
    error = ""
    for ctx in contexts:  # untimed: every run's values, parameters and state are there
        metrics = store.get_metrics(context_id=ctx)
        props = store.get_context(ctx).properties
        params = props.get("parameters") or {}
        if len(metrics) != 10 or len(params) != 10 or props.get("state") != "COMPLETE":
            error = f"run {ctx}: {len(metrics)} metrics, {len(params)} params, {props.get('state')}"
            break
    history = store.get_metrics(context_id=run.context_id, names=["loss"])
    if not error and [m.step for m in history] != list(range(steps)):
        error = f"(c) history has {len(history)} values, not steps 0..{steps - 1}"
    store.close()
    return {
        "a_wall_s": round(a_wall, 4),
        "a_all_calls_per_s": round(runs * 20 / a_wall, 1),
        "a_log_metric_calls_per_s": round(runs * 10 / a_wall, 1),
        "c_wall_s": round(c_wall, 4),
        "c_log_metric_calls_per_s": round(steps / c_wall, 1),
        "error": error,
    }


def check_mlflow(result: dict[str, Any], workdir: Path, runs: int, steps: int) -> str:
    """MLflow's rows, read from its SQLite file: runs, parameters, metric values."""
    if result.get("c_history_len") != steps:
        return f"MLflow (c) history has {result.get('c_history_len')} values, not {steps}"
    db = workdir / "mlflow.db"
    try:
        with sqlite3.connect(db) as conn:
            n_runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
            n_params = conn.execute("SELECT count(*) FROM params").fetchone()[0]
            n_metrics = conn.execute("SELECT count(*) FROM metrics").fetchone()[0]
    except sqlite3.Error as exc:
        return f"cannot read {db}: {exc}"
    expected = (runs + 1, runs * 10, runs * 10 + steps)
    if (n_runs, n_params, n_metrics) != expected:
        return f"MLflow stored (runs, params, metrics) {(n_runs, n_params, n_metrics)}, {expected}"
    return ""


@dataclass
class Case:
    name: str
    argv: list[str]
    workdir: Path


@dataclass
class Record(shared.Timing):
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def run_case(case: Case, rep: int, scratch: Path, runs: int, steps: int) -> Record:
    shutil.rmtree(case.workdir, ignore_errors=True)
    out = case.workdir.parent / f"{case.workdir.name}.json"
    out.unlink(missing_ok=True)
    env = shared.clean_env({"PYTHONWARNINGS": "ignore"})
    rec, text = shared.run_timed(Record, case.name, rep, [(case.argv, env)], scratch, scratch)
    if rec.rc != 0:
        rec.error = shared.exit_error(rec.rc, text)
        return rec
    lines = [ln for ln in text.splitlines() if ln.startswith("RESULT ")]
    if lines:
        rec.result = json.loads(lines[-1][7:])
    elif out.exists():  # the anchor writes its figures to --out
        rec.result = json.loads(out.read_text())
    if not rec.result:
        rec.error = f"no result: {text.strip()[-300:]}"
    elif case.name == "mlflow":
        rec.error = check_mlflow(rec.result, case.workdir, runs, steps) or None
    else:
        rec.error = rec.result.get("error") or None
    return rec


def _median(records: list[Record], case: str, key: str) -> float | None:
    values = [r.result[key] for r in records if r.case == case and not r.error and key in r.result]
    return statistics.median(values) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = shared.bench_parser(__doc__, reps=2)
    parser.add_argument("--runs", type=int, default=100, help="runs of workload (a), both sides")
    parser.add_argument("--steps", type=int, default=2000, help="steps of workload (c)")
    parser.add_argument("--json", type=Path, help="write every run and the summary here")
    parser.add_argument("--skip-anchors", action="store_true", help="ours only")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # our side, in a workdir
    shared.add_location_arguments(parser, "where the mlflow venv lives")
    parser.set_defaults(warmup=0)
    args = shared.parse_args(parser, argv)
    if args.worker:
        result = conveyor_side(args.worker, args.runs, args.steps)
        print("RESULT " + json.dumps(result), flush=True)
        return 0

    sizes = ["--runs", str(args.runs), "--steps", str(args.steps)]
    mlflow = (
        None if args.skip_anchors else shared.venv_python(args.venvs, "mlflow", module="mlflow")
    )
    script = shared.anchors_dir(args) / "mlflow" / "tracking_bench.py"
    status = shared.anchor_status("mlflow", mlflow, script)
    if args.skip_anchors:
        status = f"{shared.INDICATIVE}: --skip-anchors"
    with shared.scratch_dir("conveyor-tracking-bench-", args.keep) as scratch:
        me = [sys.executable, str(Path(__file__).resolve())]
        ours = scratch / "conveyor"
        cases = [Case("conveyor", [*me, "--worker", str(ours), *sizes], ours)]
        if mlflow is not None and script.exists():
            work = scratch / "mlflow"
            argv_ = [str(mlflow), str(script), "--backend", "sqlite", "--workdir", str(work)]
            argv_ += [*sizes, "--only", "a,c", "--out", str(scratch / "mlflow.json")]
            cases.append(Case("mlflow", argv_, work))
        print(f"MLflow: {status}", flush=True)
        rounds = shared.run_rounds(
            cases, [], lambda c, r: run_case(c, r, scratch, args.runs, args.steps), args, scratch
        )
        assert rounds is not None

    ours_a = _median(rounds.records, "conveyor", "a_all_calls_per_s")
    theirs_a = _median(rounds.records, "mlflow", "a_all_calls_per_s")
    ours_c = _median(rounds.records, "conveyor", "c_log_metric_calls_per_s")
    theirs_c = _median(rounds.records, "mlflow", "c_log_metric_calls_per_s")
    rows: list[shared.Target] = []
    if ours_a is not None:
        anchor = theirs_a if theirs_a is not None else ANCHOR_CALLS_PER_S
        rows.append(
            shared.Target(
                f"(a) {args.runs} runs x (start_run, 10 log_params, 10 log_metric, end_run): "
                f">= {TARGET:g}x MLflow's calls per second",
                f"{ours_a:,.0f} / {anchor:,.0f} calls/s = {ours_a / anchor:.0f}x",
                ours_a / anchor >= TARGET,
                "" if theirs_a is not None else f"{status}; ANCHORS.md figure",
            )
        )
    if ours_c is not None and theirs_c is not None:
        rows.append(
            shared.Target(
                f"(c) one run, {args.steps:,} steps of one metric",
                f"{ours_c:,.0f} / {theirs_c:,.0f} calls/s = {ours_c / theirs_c:.0f}x",
                None,
            )
        )
    meta = {**shared.base_meta(args, rounds), "mlflow": status}
    shared.print_header(meta)
    print(f"\n{'side':<10} {'(a) calls/s':>12} {'(c) calls/s':>12} {'wall s':>8} {'CPU s':>7} "
          f"{'tree PSS MB':>11}  error")  # fmt: skip
    for r in rounds.records:
        print(
            f"{r.case:<10} {r.result.get('a_all_calls_per_s', 0):>12,.0f} "
            f"{r.result.get('c_log_metric_calls_per_s', 0):>12,.0f} {r.wall_s:>8.2f} "
            f"{r.cpu_s:>7.2f} {r.tree_pss_mb:>11.0f}  {r.error or ''}"
        )
    shared.print_targets(rows)
    shared.write_json(args.json, meta, {}, {"targets": [t.row() for t in rows]}, rounds.records)
    failed = {"all": argparse.Namespace(failures=sum(bool(r.error) for r in rounds.records))}
    return shared.exit_status(failed, rows)


if __name__ == "__main__":
    sys.exit(main())
