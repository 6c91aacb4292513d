"""Tuning, early stopping and stopping rules choose on validation data, and the Evaluator
finds through lineage when the split it judges on also chose the model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PENGUINS = os.path.join(os.path.dirname(__file__), "..", "data", "penguins.csv")
PARAMS = {"input_pattern": PENGUINS, "label": "species"}


def _path(ref) -> str:
    return ref.uri[len("file://") :] if ref.uri.startswith("file://") else ref.uri


def _blessing(result) -> dict:
    with open(
        os.path.join(_path(result.outputs("evaluator").artifacts["blessing"]), "blessing.json")
    ) as fh:
        return json.load(fh)


def _ok(result) -> None:
    assert result.failed_tasks == [], {k: r.error for k, r in result.tasks.items() if r.error}


def test_a_tuner_on_a_holdout_of_train_leaves_the_blessing_without_warning(
    load, run_pipeline, store
):
    result = run_pipeline(load("selection_pipelines").tuned_then_judged, PARAMS)
    _ok(result)
    blessing = _blessing(result)
    assert blessing["warnings"] == [] and blessing["blessed"]
    tuner = store.get_execution(result.tasks["tuner"].execution_id)
    [use] = tuner.properties["data_use"]
    assert (use["role"], use["split"]) == ("tuning", "train")
    assert use["detail"] == "20% of the 'train' split, by row hash"
    results = result.outputs("tuner").artifacts["tuner_results"].properties
    assert results["validation_split"] == "train" and results["rows"]["validation"] > 0


def test_a_tuner_scored_on_the_eval_split_makes_the_evaluator_warn(
    load, run_pipeline, home, tmp_path
):
    params = {**PARAMS, "validation": "split", "validation_split": "eval"}
    result = run_pipeline(load("selection_pipelines").tuned_then_judged, params)
    _ok(result)
    blessing = _blessing(result)
    [warning] = blessing["warnings"]
    assert warning["kind"] == "seen_split" and warning["role"] == "tuning"
    assert warning["task"] == "tuner" and warning["split"] == "eval"
    assert "selection bias" in warning["message"]
    assert blessing["blessed"]  # warn: the decision stands, the warning is recorded
    evaluation = result.outputs("evaluator").artifacts["evaluation"]
    assert evaluation.properties["seen_split"] == 1
    env = {**os.environ, "CONVEYOR_HOME": str(home), "CONVEYOR_AGENT": "off", "COLUMNS": "200"}
    env.pop("CONVEYOR_METADATA_URL", None)
    shown = subprocess.run(
        [sys.executable, "-m", "conveyor", "show", str(evaluation.id)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert "warning: The 'eval' split this model is judged on also chose it" in " ".join(
        shown.stdout.split()
    )


def test_the_refuse_policy_does_not_bless_a_model_tuned_on_the_judged_split(load, run_pipeline):
    params = {**PARAMS, "validation": "split", "validation_split": "eval", "policy": "refuse"}
    result = run_pipeline(load("selection_pipelines").tuned_then_judged, params)
    _ok(result)
    blessing = _blessing(result)
    assert not blessing["blessed"] and blessing["reason"] == "NOT_BLESSED_SEEN_SPLIT"
    assert result.outputs("evaluator").parameters["Output"] is False


def test_a_cached_tuner_still_counts(load, run_pipeline):
    params = {**PARAMS, "validation": "split", "validation_split": "eval", "policy": "refuse"}
    pipe = load("selection_pipelines").tuned_then_judged
    run_pipeline(pipe, params)
    again = run_pipeline(pipe, params)
    assert again.tasks["tuner"].cached and again.tasks["evaluator"].cached
    fresh = run_pipeline(pipe, {**params, "policy": "warn"})  # a new evaluator, same lineage
    assert fresh.tasks["tuner"].cached and not fresh.tasks["evaluator"].cached
    assert [w["task"] for w in _blessing(fresh)["warnings"]] == ["tuner"]


def test_a_cross_validated_tuner_scores_on_train_only(load, run_pipeline, store):
    result = run_pipeline(
        load("selection_pipelines").tuned_then_judged, {**PARAMS, "validation": "cv"}
    )
    _ok(result)
    assert _blessing(result)["warnings"] == []
    [use] = store.get_execution(result.tasks["tuner"].execution_id).properties["data_use"]
    assert (
        use["split"] == "train" and use["detail"] == "5-fold cross-validation on the 'train' split"
    )


def test_early_stopping_watches_a_holdout_of_train_by_default(load, run_pipeline, store):
    result = run_pipeline(load("selection_pipelines").early_stopped_then_judged, PARAMS)
    _ok(result)
    assert _blessing(result)["warnings"] == []
    [use] = store.get_execution(result.tasks["trainer"].execution_id).properties["data_use"]
    assert (use["role"], use["split"]) == ("early_stopping", "train")
    metrics = result.outputs("trainer").artifacts["metrics"].properties
    assert metrics["fit_rows"] + metrics["validation_rows"] == metrics["train_rows"]


def test_early_stopping_on_the_eval_split_makes_the_evaluator_warn(load, run_pipeline):
    params = {**PARAMS, "validation": "split", "validation_split": "eval"}
    result = run_pipeline(load("selection_pipelines").early_stopped_then_judged, params)
    _ok(result)
    [warning] = _blessing(result)["warnings"]
    assert (warning["role"], warning["task"]) == ("early_stopping", "trainer")


def test_a_trainer_without_early_stopping_records_no_data_use(load, run_pipeline, store):
    params = {**PARAMS, "hyperparameters": {"n_estimators": 20}}
    result = run_pipeline(load("selection_pipelines").early_stopped_then_judged, params)
    _ok(result)
    trainer = store.get_execution(result.tasks["trainer"].execution_id)
    assert "data_use" not in trainer.properties and _blessing(result)["warnings"] == []


@pytest.mark.parametrize(("split", "warned"), [("eval", True), ("train", False)])
def test_a_later_step_that_chose_the_model_on_the_judged_split_counts(
    load, run_pipeline, split, warned
):
    result = run_pipeline(
        load("selection_pipelines").picked_then_judged, {**PARAMS, "split": split}
    )
    _ok(result)
    warnings = _blessing(result)["warnings"]
    assert [w["role"] for w in warnings] == (["stopping_rule"] if warned else [])
