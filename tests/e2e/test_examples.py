"""The example pipelines that `make run` runs, end to end through the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _show(folder: Path, artifact_id: int) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env.update(CONVEYOR_HOME=str(folder / ".conveyor"), CONVEYOR_AGENT="off", COLUMNS="200")
    proc = subprocess.run(
        [sys.executable, "-m", "conveyor", "show", str(artifact_id)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def _models(folder: Path, *args: str) -> Any:
    """``conveyor models ARGS --json`` in the example's folder, parsed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env.update(CONVEYOR_HOME=str(folder / ".conveyor"), CONVEYOR_AGENT="off")
    proc = subprocess.run(
        [sys.executable, "-m", "conveyor", "models", *args, "--json"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)


def _run(folder: Path, *args: str) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CONVEYOR_") or k.startswith("CONVEYOR_AGENT")
    }
    env["CONVEYOR_HOME"] = str(folder / ".conveyor")
    proc = subprocess.run(
        [sys.executable, "-m", "conveyor", "run", "pipeline.py", "--json", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_penguins_example_reaches_the_accuracy_target(tmp_path):
    folder = tmp_path / "penguins"
    shutil.copytree(
        REPO / "examples" / "penguins", folder, ignore=shutil.ignore_patterns(".conveyor")
    )
    result = _run(folder)
    assert result["state"] == "COMPLETE"
    assert result["tasks"]["trainer"]["outputs"]["parameters"]["Output"] >= 0.95


def test_census_example_runs_on_generated_data(tmp_path):
    folder = tmp_path / "census"
    shutil.copytree(
        REPO / "examples" / "census",
        folder,
        ignore=shutil.ignore_patterns(".conveyor", "data", "serving"),
    )
    (folder / "data").mkdir()
    subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "make_tabular.py"),
            "--rows",
            "5000",
            "--out",
            str(folder / "data" / "census.csv"),
        ],
        check=True,
        capture_output=True,
    )
    result = _run(folder)
    assert result["state"] == "COMPLETE"
    tasks = result["tasks"]
    # make_tabular's label is noisy: the Bayes-optimal ROC AUC is about 0.81 (see docs/model.md)
    assert tasks["trainer"]["outputs"]["parameters"]["Output"] >= 0.75
    # the gate: evaluated per slice, blessed (first run: value thresholds only), infra-validated,
    # documented, pushed to a versioned serving folder
    assert tasks["evaluator"]["outputs"]["parameters"]["Output"] is True
    assert tasks["infra_validator"]["outputs"]["parameters"]["Output"] is True
    assert tasks["pusher"]["outputs"]["parameters"]["Output"] is True
    blessing_uri = tasks["evaluator"]["outputs"]["artifacts"]["blessing"]["uri"]
    blessing = json.loads((Path(blessing_uri) / "blessing.json").read_text())
    assert blessing["reason"] == "FIRST_RUN_VALUE_THRESHOLDS_ONLY"
    # tuned on a validation part of train: nothing that chose the model saw the eval split
    assert blessing["warnings"] == [] and tasks["tuner"]["state"] == "COMPLETE"
    versions = list((folder / "serving" / "census").iterdir())
    assert len(versions) == 1 and (versions[0] / "conveyor_model.json").exists()
    # ... and registered as census version 1, bound to the trainer's model, now the champion
    model_id = tasks["trainer"]["outputs"]["artifacts"]["model"]["id"]
    registered = _models(folder, "versions", "census")
    assert [(v["version"], v["artifact_id"], v["aliases"]) for v in registered] == [
        (1, model_id, ["champion"])
    ]
    card_uri = tasks["model_card_generator"]["outputs"]["artifacts"]["card"]["uri"]
    card = Path(card_uri) / "model_card.html"
    assert "census-income" in card.read_text() and (Path(card_uri) / "model_card.json").exists()
    # conveyor show explains the decision
    shown = {
        key: _show(folder, tasks[task]["outputs"]["artifacts"][key]["id"])
        for task, key in (("evaluator", "evaluation"), ("pusher", "pushed_model"))
    }
    assert (
        "overall" in shown["evaluation"]
        and "BLESSED (FIRST_RUN_VALUE_THRESHOLDS_ONLY)" in (shown["evaluation"])
    )
    assert "95% bootstrap, 200 resamples" in shown["evaluation"]
    assert f"pushed to {versions[0]}" in shown["pushed_model"].replace("\n", "")
    # a fully cached rerun pushes nothing new
    again = _run(folder)
    assert {t["state"] for name, t in again["tasks"].items() if name != "latest_blessed_model"} == {
        "CACHED"
    }
    assert len(list((folder / "serving" / "census").iterdir())) == 1
    assert len(_models(folder, "versions", "census")) == 1
    assert len(_models(folder, "history", "census")) == 1
