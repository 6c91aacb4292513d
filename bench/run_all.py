"""Run the benchmark scripts in bench/ one after the other; exit 1 if any failed a check or
missed a target.

``make bench`` calls this. By default each script runs at a small size that still decides its
targets (a few minutes in all on 2 idle cores, more with the anchors); ``--full`` runs the sizes
the targets were set at (1M rows, 100,000 executions, 200,000-row census, more repetitions),
which takes much longer. Every anchor whose venv exists under ``$VENVS`` (``~/venvs``) runs side
by side: KFP and Kedro (orchestration, control flow), ML Metadata (``mlmd`` or ``tfx``), MLflow
(tracking, serving, the UI), TFDV (``tfdv`` or ``tfx``) and TFX (the census pipeline); a
missing one makes its targets "indicative" (see bench/README.md for the venvs).
``--skip-anchors`` runs ours only. Each script runs in its own process with this interpreter;
its output is printed as it comes.

    python bench/run_all.py
    python bench/run_all.py --only import_time orchestration --skip-anchors
    python bench/run_all.py --full
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = (
    "import_time",
    "orchestration",
    "control_flow",
    "flow_engine",
    "metadata_bench",
    "tracking_bench",
    "data_stats",
    "census_pipeline",
    "evaluation_1m",
    "serving",
    "prediction_logging",
    "serving_traffic",
    "serving_fuzz",
    "batch_scoring",
    "ui",
)
QUICK = {  # small sizes (the default)
    "import_time": ["--reps", "10"],
    "orchestration": ["--reps", "3"],
    "control_flow": ["--reps", "2"],
    "flow_engine": ["--sizes", "1000", "3000"],
    "metadata_bench": [],
    "tracking_bench": [],
    "data_stats": [],
    "census_pipeline": ["--rows", "10000"],
    "evaluation_1m": None,  # its target is set at 1M rows: --full only
    "serving": ["--reps", "2", "--duration", "5", "--no-census"],
    "prediction_logging": ["--rounds", "2", "--requests", "100"],
    "serving_traffic": ["--rounds", "2", "--requests", "100"],
    "serving_fuzz": ["--requests", "1000"],
    "batch_scoring": ["--rows", "100000"],
    "ui": ["--runs", "1000", "--reps", "10", "--backend", "sqlite"],
}
FULL = {
    "import_time": ["--reps", "20"],
    "orchestration": ["--reps", "5"],
    "control_flow": ["--reps", "5"],
    "flow_engine": [],
    "metadata_bench": ["--executions", "10000", "--large", "100000", "--reps", "3"],
    "tracking_bench": ["--runs", "1000", "--steps", "10000", "--reps", "3"],
    "data_stats": ["--rows", "1000000", "--tfdv-csv"],
    "census_pipeline": ["--rows", "10000", "200000", "--reps", "3"],
    "evaluation_1m": [],
    "serving": ["--reps", "3", "--duration", "10"],
    "prediction_logging": [],
    "serving_traffic": [],
    "serving_fuzz": [],
    "batch_scoring": ["--rows", "10000000"],
    "ui": ["--reps", "20"],
}
SKIP_ANCHORS = {
    "orchestration": ["--skip-anchors"],
    "control_flow": ["--skip-anchors"],
    "metadata_bench": ["--skip-anchors"],
    "tracking_bench": ["--skip-anchors"],
    "data_stats": ["--skip-tfdv"],
    "census_pipeline": ["--skip-tfx"],
    "serving": ["--skip-anchors"],
    "ui": ["--skip-anchor"],
}


def main(argv: list[str] | None = None) -> int:
    """Run the scripts; print a one-line verdict per script at the end."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=SCRIPTS, help="run only these scripts")
    parser.add_argument("--full", action="store_true", help="the targets' full sizes (long)")
    parser.add_argument("--skip-anchors", action="store_true", help="ours only, no anchor venvs")
    args = parser.parse_args(argv)

    sizes = FULL if args.full else QUICK
    results: list[tuple[str, int, float]] = []
    for name in args.only or SCRIPTS:
        extra = sizes[name]
        if extra is None:
            print(f"== {name}.py: skipped (its target needs --full)\n", flush=True)
            continue
        cmd = [sys.executable, str(HERE / f"{name}.py"), *extra]
        if args.skip_anchors:
            cmd += SKIP_ANCHORS.get(name, [])
        print(f"== {' '.join(cmd)}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, check=False).returncode
        results.append((name, rc, time.perf_counter() - t0))
        print(flush=True)

    print("== summary")
    for name, rc, seconds in results:
        print(f"  {name:<16} {'ok' if rc == 0 else f'exit {rc}':<8} ({seconds:.0f} s)")
    return 0 if all(rc == 0 for _, rc, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
