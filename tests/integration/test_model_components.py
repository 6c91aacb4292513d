"""Transform and Trainer on the local orchestrator, after the Data stage."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

import conveyor.model as cm
from conveyor.components.model import trainer, transform
from conveyor.data.model import DataSchema, FeatureSchema, FeatureType
from conveyor.data.schema import save_schema
from conveyor.model.examples import read_examples
from conveyor.testing import check_component

PENGUINS = os.path.join(os.path.dirname(__file__), "..", "data", "penguins.csv")
MAKE_TABULAR = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "make_tabular.py")


def _path(ref) -> str:
    return ref.uri[len("file://") :] if ref.uri.startswith("file://") else ref.uri


def _metrics(result) -> dict:
    with open(_path(result.outputs("trainer").artifacts["metrics"])) as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def census(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("census") / "census.csv"
    subprocess.run(
        [sys.executable, MAKE_TABULAR, "--rows", "20000", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return str(out)


def test_penguins_reach_95_percent_accuracy_and_the_model_round_trips(load, run_pipeline):
    pipe = load("model_pipelines").model_stage
    result = run_pipeline(
        pipe, {"input_pattern": PENGUINS, "label": "species", "preset": "xgboost"}
    )
    assert result.failed_tasks == []
    accuracy = result.outputs("trainer").parameters["Output"]
    assert accuracy >= 0.95
    model_ref = result.outputs("trainer").artifacts["model"]
    examples = _path(result.outputs("example_gen").artifacts["examples"])
    eval_rows = pq.read_table(os.path.join(examples, "eval"))
    model = cm.load_model(_path(model_ref))
    assert model.manifest.framework == "xgboost" and model.classes == [
        "Adelie",
        "Chinstrap",
        "Gentoo",
    ]
    predicted = model.predict(eval_rows.drop_columns(["species"]))
    assert np.mean(predicted == np.asarray(eval_rows.column("species").to_pylist())) >= 0.95
    again = cm.load_model(_path(model_ref))
    assert np.array_equal(
        model.predict_proba(eval_rows), again.predict_proba(eval_rows.to_pylist())
    )
    metrics = _metrics(result)
    assert metrics["accuracy"] == pytest.approx(accuracy) and "eval_mlogloss" in metrics["series"]
    # the trainer kept five training rows, as a request sends them: the signature's inputs
    rows = read_examples(_path(model_ref))
    assert rows is not None and len(rows) == 5
    assert [list(r) for r in rows] == [[i["name"] for i in model.signature["inputs"]]] * 5
    assert len(model.predict(rows)) == 5


def test_a_model_trained_with_keep_example_rows_false_keeps_none(load, run_pipeline):
    pipe = load("model_pipelines").model_stage
    params = {"input_pattern": PENGUINS, "label": "species", "keep_example_rows": False}
    result = run_pipeline(pipe, params)
    assert result.failed_tasks == []
    model = _path(result.outputs("trainer").artifacts["model"])
    assert read_examples(model) is None and cm.load_model(model).classes is not None


def test_transform_is_fitted_on_the_train_split_only(load, run_pipeline):
    result = run_pipeline(
        load("model_pipelines").model_stage, {"input_pattern": PENGUINS, "label": "species"}
    )
    assert result.failed_tasks == []
    examples = _path(result.outputs("example_gen").artifacts["examples"])
    train = pq.read_table(os.path.join(examples, "train")).column("body_mass_g")
    fitted = cm.load_transform(_path(result.outputs("transform").artifacts["transform_graph"]))
    values = np.asarray(train.drop_null().to_numpy(), dtype=float)
    assert fitted.step("body_mass_g").params["mean"] == pytest.approx(values.mean())
    evals = pq.read_table(os.path.join(examples, "eval")).column("body_mass_g").drop_null()
    assert fitted.step("body_mass_g").params["mean"] != pytest.approx(
        np.concatenate([values, np.asarray(evals.to_numpy(), dtype=float)]).mean()
    )
    transformed = _path(result.outputs("transform").artifacts["transformed_examples"])
    assert sorted(os.listdir(transformed)) == ["eval", "train"]
    assert result.outputs("trainer").parameters["Output"] >= 0.95  # LogisticRegression


def test_census_gradient_boosting_auc(load, run_pipeline, census):
    # The generator's label is a noisy logistic function: even the true logit scores ROC AUC
    # ~0.81 on it, so the 0.85 of the real UCI Adult data is not reachable here.
    result = run_pipeline(
        load("model_pipelines").model_stage,
        {"input_pattern": census, "label": "income_gt_50k", "preset": "lightgbm"},
    )
    assert result.failed_tasks == [], result.tasks["trainer"].error
    assert result.outputs("trainer").parameters["Output"] >= 0.80


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"preset": "sklearn:RandomForestClassifer"}, "Did you mean ['RandomForestClassifier'"),
        (
            {"preset": "xgboost", "hyperparameters": {"max_dept": 3}},
            "Unknown hyperparameter 'max_dept'",
        ),
        (
            {"preset": "sklearn:LogisticRegression", "hyperparameters": {"C": -1}},
            "Invalid hyperparameter",
        ),
        (
            {"run_fn": "model_pipelines:nan_loss_run_fn"},
            "Training diverged: metric 'loss' is nan at step 1",
        ),
    ],
)
def test_trainer_fails_with_a_clear_message(load, run_pipeline, params, message):
    pipe = load("model_pipelines").model_stage
    result = run_pipeline(
        pipe, {"input_pattern": PENGUINS, "label": "species", **params}, in_process=True
    )
    assert result.failed_tasks == ["trainer"]
    assert message in (result.tasks["trainer"].error or "")


def test_trainer_runs_a_user_run_fn_with_logged_curves(load, run_pipeline):
    pipe = load("model_pipelines").model_stage
    result = run_pipeline(pipe, {"input_pattern": PENGUINS, "label": "species",
                                 "run_fn": "model_pipelines:custom_run_fn"})  # fmt: skip
    assert result.failed_tasks == []
    assert result.outputs("trainer").parameters["Output"] >= 0.95
    metrics = _metrics(result)
    assert metrics["series"]["loss"] == [[0, 1.0], [1, 0.5], [2, pytest.approx(1 / 3)]]


def test_components_pass_the_conformance_checks(tmp_path):
    import pyarrow as pa

    examples = tmp_path / "examples"
    rng = np.random.default_rng(1)
    for split, n in (("train", 80), ("eval", 20)):
        (examples / split).mkdir(parents=True)
        x = rng.normal(size=n)
        pq.write_table(
            pa.table({"x": x, "y": (x > 0).astype(np.int64)}), examples / split / "p.parquet"
        )
    schema = tmp_path / "schema"
    schema.mkdir()
    features = [FeatureSchema("x", FeatureType.FLOAT), FeatureSchema("y", FeatureType.INT)]
    save_schema(DataSchema(features), schema / "schema.yaml")
    inputs = {"examples": str(examples), "schema": str(schema)}
    result = check_component(transform, parameters={"label": "y"}, inputs=inputs)
    assert result.outputs.parameters["Output"] == 1
    result = check_component(trainer, parameters={"label": "y"}, inputs=inputs)
    assert result.outputs.parameters["Output"] > 0.9
