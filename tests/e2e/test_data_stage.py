"""The Data stage end to end through the CLI, and `conveyor show` of every artifact."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_output import as_json

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
        "example_gen": "CACHED",  # the file's bytes are part of its cache key: not read again
        "statistics_gen": "CACHED",
        "schema_gen": "CACHED",
        "example_validator": "CACHED",
    }


def test_a_changed_file_reruns_example_gen_and_says_why(cli, penguins):
    args = ("run", "data_stage.py", "--param", f"input_pattern={penguins}", "--json")
    first = as_json(cli(*args))
    assert first["tasks"]["example_gen"]["state"] == "COMPLETE"
    lines = penguins.read_text().splitlines(keepends=True)
    penguins.write_text("".join(lines[:-5]))  # five rows fewer
    plan = cli("plan", "data_stage.py", "--param", f"input_pattern={penguins}")
    assert plan.returncode == 0, plan.stderr
    assert f"input file:{penguins}: content changed" in plan.stdout
    second = as_json(cli(*args))
    assert second["tasks"]["example_gen"]["state"] == "COMPLETE"
    assert second["tasks"]["example_gen"]["outputs"]["parameters"]["Output"] == (
        first["tasks"]["example_gen"]["outputs"]["parameters"]["Output"] - 5
    )
    assert second["tasks"]["statistics_gen"]["state"] == "COMPLETE"  # new bytes downstream
