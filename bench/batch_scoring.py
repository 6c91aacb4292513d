"""Batch scoring: ``conveyor predict`` on a census-like Parquet file, rows/s and peak memory.

Trains a LightGBM census classifier on 50,000 rows (as the census example does), writes a
Parquet file of ``--rows`` rows (``make_tabular.py``; past 1M rows the 1M file is repeated
as row groups, so making the data does not need the memory scoring avoids), and runs
``conveyor predict`` on it under ``/usr/bin/time -v`` (peak RSS of the whole process).

    .venv/bin/python bench/batch_scoring.py                    # 1M rows
    .venv/bin/python bench/batch_scoring.py --rows 10000000    # 10M rows
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
LABEL = "income_gt_50k"
BASE_ROWS = 1_000_000


def _make(rows: int, out: str) -> None:
    subprocess.run(
        [sys.executable, str(HERE / "make_tabular.py"), "--rows", str(rows), "--out", out],
        check=True,
        capture_output=True,
    )


def _data(rows: int, folder: str) -> str:
    import pyarrow.parquet as pq

    out = os.path.join(folder, f"census_{rows}.parquet")
    if os.path.exists(out):
        return out
    if rows <= BASE_ROWS:
        _make(rows, out)
        return out
    base = _data(BASE_ROWS, folder)
    table = pq.read_table(base)
    with pq.ParquetWriter(out + ".tmp", table.schema) as writer:
        for start in range(0, rows, BASE_ROWS):
            writer.write_table(table.slice(0, min(BASE_ROWS, rows - start)))
    os.replace(out + ".tmp", out)
    return out


def census_model(folder: str, rows: int = 50_000) -> str:
    """A LightGBM census classifier trained on ``rows`` rows, saved (once) under ``folder``."""
    import numpy as np
    import pyarrow.parquet as pq

    from conveyor.data.schema import infer_schema
    from conveyor.data.stats import compute_statistics
    from conveyor.model.presets import create_estimator
    from conveyor.model.saved import save_model
    from conveyor.model.transform import fit_transform

    path = os.path.join(folder, "model")
    if os.path.exists(os.path.join(path, "conveyor_model.json")):
        return path
    os.makedirs(folder, exist_ok=True)
    train = os.path.join(folder, f"train_{rows}.parquet")
    _make(rows, train)
    table = pq.read_table(train)
    schema = infer_schema(compute_statistics(table, split="train"))
    fitted = fit_transform(table, schema, LABEL)
    estimator, _ = create_estimator("lightgbm", "classification", {})
    estimator.fit(fitted.matrix(table), np.asarray(table.column(LABEL), dtype=np.int64))
    save_model(path, estimator, fitted, task="classification", label=LABEL, classes=[0, 1],
               schema=schema)  # fmt: skip
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=BASE_ROWS)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument(
        "--data-dir", default=os.path.join(tempfile.gettempdir(), "conveyor-batch-bench")
    )
    args = parser.parse_args(argv)
    os.makedirs(args.data_dir, exist_ok=True)
    model = census_model(args.data_dir)
    data = _data(args.rows, args.data_dir)
    out = os.path.join(args.data_dir, "scored.parquet")
    command = [
        "/usr/bin/time",
        "-v",
        sys.executable,
        "-m",
        "conveyor",
        "predict",
        model,
        data,
        "-o",
        out,
        "--chunk-rows",
        str(args.chunk_rows),
    ]
    if args.workers:
        command += ["--workers", str(args.workers)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"conveyor predict failed:\n{proc.stderr[-3000:]}")
    timing = dict(re.findall(r"^\s*(.+?): (.+)$", proc.stderr, re.M))
    said = re.search(r"in ([\d.]+) s, ([\d,]+) rows/s", proc.stderr)
    result = {
        "rows": args.rows,
        "workers": args.workers or os.cpu_count(),
        "chunk_rows": args.chunk_rows,
        "scoring_seconds": float(said.group(1)) if said else None,
        "rows_per_second": int(said.group(2).replace(",", "")) if said else None,
        "wall_seconds_with_start_up": timing.get("Elapsed (wall clock) time (h:mm:ss or m:ss)"),
        "peak_rss_mb": round(int(timing.get("Maximum resident set size (kbytes)", 0)) / 1024),
    }
    print(json.dumps(result, indent=1))
    os.remove(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
