"""``bench/serving_fuzz.py`` in a short run: hostile and generated requests get no 5xx."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

FUZZ = Path(__file__).resolve().parents[2] / "bench" / "serving_fuzz.py"


def test_generated_and_hostile_requests_get_no_5xx_and_memory_stays_flat(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(FUZZ), "--requests", "300", "--model-rows", "3000",
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["requests"] == 300
    assert len(report["rss_mb_every_tenth"]) == 11
    assert report["server_5xx"] == 0 and report["failures"] == []
    kinds = report["by_kind"]
    assert kinds["schemathesis positive POST"] > 20 and kinds["schemathesis negative POST"] > 20
    assert kinds["valid rows"] > 0 and report["by_status"]["200"] > 0
    assert report["by_status"]["422"] > 0 and report["by_status"]["400"] > 0
