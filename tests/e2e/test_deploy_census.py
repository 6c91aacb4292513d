"""What a CI/CD deploy job does after the census example: deploy the champion, smoke-test it
with the example rows its trainer kept (the model trains on Transform's output, so the rows
come from the raw rows the Transform kept), stop it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def test_the_census_champion_deploys_and_passes_its_smoke_test(tmp_path):
    folder = tmp_path / "census"
    shutil.copytree(REPO / "examples" / "census", folder,
                    ignore=shutil.ignore_patterns(".conveyor", "data", "serving"))  # fmt: skip
    (folder / "data").mkdir()
    subprocess.run([sys.executable, str(REPO / "bench" / "make_tabular.py"), "--rows", "3000",
                    "--out", str(folder / "data" / "census.csv")], check=True)  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env.update(CONVEYOR_HOME=str(folder / ".conveyor"), CONVEYOR_AGENT="off")

    def conveyor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "conveyor", *args], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=600)  # fmt: skip

    ran = conveyor("run", "pipeline.py", "-q")
    assert ran.returncode == 0, ran.stderr
    (version,) = (folder / "serving" / "census").iterdir()
    rows = json.loads((version / "conveyor_examples.json").read_text())["rows"]
    assert len(rows) == 5 and all("income_gt_50k" not in row for row in rows)
    started = conveyor("deploy", "models:/census@champion", "--port", "0", "--json")
    assert started.returncode == 0, started.stderr
    url = json.loads(started.stdout)["url"]
    try:
        smoke = conveyor("smoke-test", url, "--json", "--max-latency-ms", "60000")
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr
        report = json.loads(smoke.stdout)
        assert (report["model"], report["version"], report["rows"]) == ("census", "1", 5)
        assert all(check["ok"] for check in report["checks"])
    finally:
        stopped = conveyor("deploy", "stop", "census", "--json")
    assert json.loads(stopped.stdout)["outcome"] == "stopped", stopped.stderr
