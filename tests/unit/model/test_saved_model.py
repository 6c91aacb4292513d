"""Saved models: manifest, round trip, inputs as tables/dicts/rows, signature check."""

from __future__ import annotations

import json

import numpy as np
import pytest
from toy_models import CLASSES, SCHEMA, toy_table

from conveyor.data.model import DataSchema, FeatureSchema, FeatureType
from conveyor.errors import ArtifactError
from conveyor.model.presets import create_estimator
from conveyor.model.saved import check_signature, load_model, save_model
from conveyor.model.transform import fit_transform

TABLE = toy_table(200)
Y = np.asarray(TABLE.column("y").to_pylist())


def _train(preset: str, path: str) -> None:
    fitted = fit_transform(TABLE, SCHEMA, "y")
    estimator, _ = create_estimator(preset, "classification", {})
    y = np.searchsorted(CLASSES, Y)
    estimator.fit(fitted.matrix(TABLE), y)
    save_model(path, estimator, fitted, task="classification", label="y", classes=CLASSES)


@pytest.mark.parametrize("preset", ["sklearn:LogisticRegression", "xgboost", "lightgbm"])
def test_saved_model_round_trip_gives_identical_predictions(tmp_path, preset):
    path = str(tmp_path / "m")
    _train(preset, path)
    first, second = load_model(path), load_model(path)
    assert np.array_equal(first.predict_proba(TABLE), second.predict_proba(TABLE))
    assert (first.predict(TABLE) == Y).mean() > 0.9
    assert set(first.predict(TABLE)) <= set(CLASSES)


def test_saved_model_manifest_records_framework_task_and_signature(tmp_path):
    _train("xgboost", str(tmp_path / "m"))
    manifest = json.loads((tmp_path / "m" / "conveyor_model.json").read_text())
    assert manifest["framework"] == "xgboost" and manifest["framework_version"]
    assert manifest["task"] == "classification" and manifest["label"] == "y"
    assert manifest["signature"]["inputs"] == [
        {"name": "x", "type": "FLOAT"}, {"name": "c", "type": "STRING"},
    ]  # fmt: skip
    assert (tmp_path / "m" / "transform" / "transform.json").exists()


def test_saved_model_predicts_from_dicts_and_rows(tmp_path):
    _train("sklearn:LogisticRegression", str(tmp_path / "m"))
    model = load_model(str(tmp_path / "m"))
    rows = [{"x": 3.0, "c": "a"}, {"x": -3.0, "c": "zzz"}]  # 'zzz': out of vocabulary
    assert list(model.predict(rows)) == ["yes", "no"]
    assert list(model.predict({"x": [3.0, -3.0], "c": ["a", "zzz"]})) == ["yes", "no"]
    assert model.predict_proba(rows).shape == (2, 2)


def test_saved_model_refuses_a_schema_that_does_not_match(tmp_path):
    _train("sklearn:LogisticRegression", str(tmp_path / "m"))
    other = DataSchema(
        [FeatureSchema("x", FeatureType.STRING), FeatureSchema("y", FeatureType.STRING)]
    )
    with pytest.raises(ArtifactError, match=r"'x' is FLOAT in the model, STRING.*'c' is not in"):
        load_model(str(tmp_path / "m"), schema=other)
    load_model(str(tmp_path / "m"), schema=SCHEMA)  # the training schema is accepted


def test_check_signature_refuses_a_mismatch_without_loading_the_model():
    fitted = fit_transform(TABLE, SCHEMA, "y")
    signature = {"inputs": [{"name": k, "type": v} for k, v in fitted.inputs.items()]}
    check_signature(signature, SCHEMA, "m")  # the training schema is accepted
    other = DataSchema([FeatureSchema("x", FeatureType.INT)])
    with pytest.raises(ArtifactError, match=r"'x' is FLOAT in the model, INT.*'c' is not in"):
        check_signature(signature, other, "m")


def test_saved_model_refuses_input_missing_a_signature_column(tmp_path):
    _train("sklearn:LogisticRegression", str(tmp_path / "m"))
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['c'\]"):
        load_model(str(tmp_path / "m")).predict([{"x": 1.0}])


def test_load_model_explains_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(ArtifactError, match="not a Conveyor model"):
        load_model(str(tmp_path))


def test_saved_model_records_the_schema_domain_of_string_inputs(tmp_path):
    fitted = fit_transform(TABLE, SCHEMA, "y")
    estimator, _ = create_estimator("sklearn:LogisticRegression", "classification", {})
    estimator.fit(fitted.matrix(TABLE), np.searchsorted(CLASSES, Y))
    manifest = save_model(str(tmp_path / "m"), estimator, fitted, task="classification",
                          label="y", classes=CLASSES, schema=SCHEMA)  # fmt: skip
    assert manifest.signature["inputs"] == [
        {"name": "x", "type": "FLOAT"}, {"name": "c", "type": "STRING", "values": ["a", "b"]},
    ]  # fmt: skip
    assert load_model(str(tmp_path / "m")).signature == manifest.signature
