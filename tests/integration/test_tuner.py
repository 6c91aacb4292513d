"""The Tuner on the local orchestrator, after the Data stage and the Transform."""

from __future__ import annotations

import inspect
import json
import os

import pytest

from conveyor.components.model import trainer
from conveyor.model.saved import load_model

PENGUINS = os.path.join(os.path.dirname(__file__), "..", "data", "penguins.csv")

AUTOML = {
    "sklearn:LogisticRegression": {"C": {"type": "float", "low": 1e-3, "high": 100, "log": True}},
    "xgboost": {
        "max_depth": {"type": "int", "low": 2, "high": 4},
        "n_estimators": {"type": "categorical", "choices": [20, 50]},
    },
    "sklearn:RandomForestClassifier": {
        "n_estimators": {"type": "categorical", "choices": [20, 50]}
    },
}


def _path(ref) -> str:
    return ref.uri[len("file://") :] if ref.uri.startswith("file://") else ref.uri


def _read(ref, name: str):
    with open(os.path.join(_path(ref), name)) as fh:
        return json.load(fh)


def test_tuner_searches_across_model_families_on_penguins(load, run_pipeline):
    params = {"input_pattern": PENGUINS, "label": "species", "search_space": AUTOML,
              "n_trials": 6}  # fmt: skip
    result = run_pipeline(load("tuner_pipelines").tuner_stage, params)
    assert result.failed_tasks == [], result.tasks["tuner"].error
    outputs = result.outputs("tuner")
    best = outputs.parameters["Output"]
    assert best >= 0.95  # accuracy on the validation part of train (three species)
    hp = _read(outputs.artifacts["best_hyperparameters"], "hyperparameters.json")
    assert hp["metric"] == "accuracy" and hp["value"] == pytest.approx(best)
    assert hp["preset"] in AUTOML
    trials = _read(outputs.artifacts["tuner_results"], "trials.json")
    assert [t["number"] for t in trials] == list(range(6))
    assert all(t["duration_seconds"] >= 0 and t["state"] in ("COMPLETE", "PRUNED") for t in trials)
    assert {t["preset"] for t in trials} <= set(AUTOML)
    assert max(t["value"] for t in trials if t["value"] is not None) == pytest.approx(best)


def test_tuner_fails_with_a_clear_message_on_a_bad_search_space(load, run_pipeline):
    space = {"xgboost": {"max_dept": {"type": "int", "low": 2, "high": 4}}}
    params = {"input_pattern": PENGUINS, "label": "species", "search_space": space}
    result = run_pipeline(load("tuner_pipelines").tuner_stage, params, in_process=True)
    assert result.failed_tasks == ["tuner"]
    assert "'xgboost'.'max_dept'" in (result.tasks["tuner"].error or "")


@pytest.mark.skipif(
    "hyperparameters_artifact" not in inspect.signature(trainer.python_func).parameters,
    reason="the Trainer has no hyperparameters_artifact input yet",
)
def test_trainer_trains_the_tuned_configuration(load, run_pipeline):
    space = {"sklearn:LogisticRegression": {"C": {"type": "float", "low": 0.01, "high": 10,
                                                  "log": True}}}  # fmt: skip
    params = {"input_pattern": PENGUINS, "label": "species", "search_space": space}
    result = run_pipeline(load("tuner_pipelines").tuner_then_trainer, params)
    assert result.failed_tasks == []
    hp = _read(result.outputs("tuner").artifacts["best_hyperparameters"], "hyperparameters.json")
    model = load_model(_path(result.outputs("trainer").artifacts["model"]))
    assert model.estimator.get_params()["C"] == pytest.approx(hp["hyperparameters"]["C"])
    # tuned on a validation part of train, judged on eval: two different figures
    assert hp["metric"] == "accuracy" and result.outputs("trainer").parameters["Output"] >= 0.9
