"""The Data stage end to end through the CLI, and `conveyor show` of every artifact."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import as_json

pytestmark = pytest.mark.slow

PENGUINS = str(Path(__file__).resolve().parents[1] / "data" / "penguins.csv")


@pytest.fixture
def penguins(project):
    dest = project / "penguins.csv"
    shutil.copyfile(PENGUINS, dest)
    return dest


def test_data_stage_runs_and_every_artifact_has_a_view(cli, penguins):
    run = cli("run", "data_stage.py", "--param", f"input_pattern={penguins}", "--json")
    assert run.returncode == 0, run.stderr
    data = as_json(run)
    assert data["state"] == "COMPLETE"
    assert data["tasks"]["example_validator"]["outputs"]["parameters"] == {"Output": 0}
    ids = {
        task: next(iter(t["outputs"]["artifacts"].values()))["id"]
        for task, t in data["tasks"].items()
    }
    shown = {task: cli("show", str(ids[task])) for task in ids}
    for task, proc in shown.items():
        assert proc.returncode == 0, (task, proc.stderr)
    assert "train" in shown["example_gen"].stdout and "eval" in shown["example_gen"].stdout
    assert "bill_length_mm" in shown["statistics_gen"].stdout
    assert "species" in shown["schema_gen"].stdout and "Adelie" in shown["schema_gen"].stdout
    assert "No anomalies" in shown["example_validator"].stdout
    rerun = as_json(cli("run", "data_stage.py", "--param", f"input_pattern={penguins}", "--json"))
    states = {t: v["state"] for t, v in rerun["tasks"].items()}
    assert states == {
        "example_gen": "COMPLETE",  # always reads its input again
        "statistics_gen": "CACHED",  # same bytes, so the same statistics: reused
        "schema_gen": "CACHED",
        "example_validator": "CACHED",
    }
