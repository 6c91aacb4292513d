"""examples/serving_skew: train, serve with prediction logging (a real server on a free port),
send normal then shifted traffic, and find the skew in the logs with conveyor data validate."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conveyor.data.prediction_logs import is_log_file

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_the_skew_loop_finds_the_shift_and_only_the_shift(tmp_path: Path) -> None:
    folder = tmp_path / "serving_skew"
    ignore = shutil.ignore_patterns("data", "models", "logs", ".conveyor")
    shutil.copytree(REPO / "examples" / "serving_skew", folder, ignore=ignore)
    (folder / "data").mkdir()
    for name, seed in (("census.csv", "0"), ("traffic.csv", "7")):
        subprocess.run(
            [sys.executable, str(REPO / "bench" / "make_tabular.py"), "--rows", "3000",
             "--seed", seed, "--out", str(folder / "data" / name)],
            check=True, capture_output=True,
        )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env["CONVEYOR_HOME"] = str(folder / ".conveyor")
    done = subprocess.run(
        [sys.executable, "skew_loop.py", "--rows", "3000", "--traffic", "600"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "skew detected as expected" in done.stdout
    report = json.loads((folder / "skew_report.json").read_text())
    assert report["normal"] == {**report["normal"], "rows_sent": 600, "anomalies": {}}
    assert report["shifted"]["anomalies"] == {
        "age": ["COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"],
        "workclass": ["COMPARATOR_L_INFTY_HIGH"],
    }
    files = sorted((folder / "logs" / "census" / "unversioned").iterdir())
    assert len(files) == 2 and all(is_log_file(f.name) for f in files)  # one per server run
    ages = [pq.read_table(f).column("inputs").combine_chunks().field("age") for f in files]
    assert ages[1].to_pylist() == [min(a + 20, 90) for a in ages[0].to_pylist()]
