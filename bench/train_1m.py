"""Transform + train on 1M census-like rows: wall time, CPU use and peak memory, per step.

Runs ``examples/census/pipeline.py`` (ExampleGen -> StatisticsGen -> SchemaGen ->
ExampleValidator -> Transform -> Trainer with LightGBM) in one process (``--in-process``,
without the warm agent) under ``/usr/bin/time -v``, so the peak RSS is the whole pipeline's.

    .venv/bin/python bench/train_1m.py                  # 1M rows (generated once in /tmp)
    .venv/bin/python bench/train_1m.py --rows 200000 --preset xgboost
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--preset", default="lightgbm")
    parser.add_argument(
        "--data-dir", default=os.path.join(tempfile.gettempdir(), "conveyor-train-bench")
    )
    args = parser.parse_args()
    data = Path(args.data_dir) / f"census_{args.rows}.csv"
    if not data.exists():
        data.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                str(REPO / "bench" / "make_tabular.py"),
                "--rows",
                str(args.rows),
                "--out",
                str(data),
            ],
            check=True,
        )
    work = Path(tempfile.mkdtemp(prefix="conveyor-train-"))
    try:
        shutil.copy(REPO / "examples" / "census" / "pipeline.py", work / "pipeline.py")
        env = {**os.environ, "CONVEYOR_AGENT": "off", "CONVEYOR_HOME": str(work / ".conveyor")}
        proc = subprocess.run(
            [
                "/usr/bin/time",
                "-v",
                sys.executable,
                "-m",
                "conveyor",
                "run",
                "pipeline.py",
                "--in-process",
                "--json",
                "--param",
                f"pattern={data}",
                "--param",
                f"preset={args.preset}",
            ],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            sys.exit(f"run failed:\n{proc.stderr[-3000:]}")
        result = json.loads(proc.stdout)
        timing = dict(re.findall(r"^\s*(.+?): (.+)$", proc.stderr, re.M))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    wall = result["duration_seconds"]
    user = float(timing["User time (seconds)"])
    system = float(timing["System time (seconds)"])
    rss_mib = int(timing["Maximum resident set size (kbytes)"]) / 1024
    print(f"{args.rows:,} rows, preset {args.preset}, {os.cpu_count()} CPUs")
    print("| step | seconds |\n|---|---|")
    for task, info in result["tasks"].items():
        print(f"| {task} | {info['duration_seconds']:.2f} |")
    print(f"| whole run | {wall:.1f} |")
    print(
        f"\nwhole process: {timing['Elapsed (wall clock) time (h:mm:ss or m:ss)']} wall, "
        f"CPU {user + system:.1f} s ({(user + system) / max(wall, 1e-9):.2f} cores busy on "
        f"average), peak RSS {rss_mib:,.0f} MiB"
    )
    trainer = result["tasks"]["trainer"]["outputs"]["parameters"]["Output"]
    print(f"eval metric (ROC AUC): {trainer:.4f}")


if __name__ == "__main__":
    main()
