"""ONNX export: every exportable transform step, missing and unseen values, classifiers and
regressors of each converter, and the reasons a model cannot be exported."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from conveyor.data.model import DataSchema, FeatureSchema, FeatureType
from conveyor.errors import ArtifactError
from conveyor.model.presets import create_estimator
from conveyor.model.saved import LoadedModel, load_model, save_model
from conveyor.model.transform import TransformOptions, fit_transform

onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")
pytest.importorskip("onnxmltools")

from conveyor.model.onnx_export import check_parity, export_onnx, onnx_inputs  # noqa: E402

SCHEMA = DataSchema(
    [
        FeatureSchema("x", FeatureType.FLOAT),
        FeatureSchema("age", FeatureType.INT),
        FeatureSchema("flag", FeatureType.BOOL),
        FeatureSchema("income", FeatureType.FLOAT),
        FeatureSchema("colour", FeatureType.STRING, values=["red", "green", "blue"]),
        FeatureSchema("size", FeatureType.STRING, values=["S", "M", "L"]),
        FeatureSchema("y", FeatureType.STRING),
        FeatureSchema("v", FeatureType.FLOAT),
    ]
)
OPTIONS = TransformOptions(
    encodings={"age": "bucketize", "income": "impute", "size": "ordinal"}, num_buckets=4
)


def _table(rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    age = rng.integers(18, 80, rows)
    colour = rng.choice(["red", "green", "blue"], rows)
    size = rng.choice(["S", "M", "L"], rows)
    income = rng.normal(50, 10, rows)
    score = x + (colour == "red") + (age > 50) - (size == "L") + (income - 50) / 10
    y = np.where(score > 0.8, "high", np.where(score > -0.2, "mid", "low"))
    return pa.table(
        {
            "x": x,
            "age": age,
            "flag": rng.integers(0, 2, rows).astype(bool),
            "income": income,
            "colour": colour,
            "size": size,
            "y": y,
            "v": score * 1000 + 4000,  # a regression target in the thousands
        }
    )


def _with_gaps(table: pa.Table) -> pa.Table:
    """Missing numbers and strings, infinities and a colour training never saw."""
    n = table.num_rows
    x = table.column("x").to_pylist()
    x[0], x[1] = None, float("inf")
    income = table.column("income").to_pylist()
    income[2] = None
    colour = table.column("colour").to_pylist()
    colour[3], colour[4] = None, "purple"
    size = table.column("size").to_pylist()
    size[5], size[6] = None, "XXL"
    out = table.set_column(0, "x", pa.array(x, pa.float64()))
    out = out.set_column(3, "income", pa.array(income, pa.float64()))
    out = out.set_column(4, "colour", pa.array(colour, pa.string()))
    out = out.set_column(5, "size", pa.array(size, pa.string()))
    assert out.num_rows == n
    return out


def _train(
    path: str,
    preset: str,
    task: str,
    options: TransformOptions = OPTIONS,
    schema: DataSchema = SCHEMA,
) -> LoadedModel:
    table = _table(600)
    label = "y" if task == "classification" else "v"
    other = "v" if label == "y" else "y"
    fitted = fit_transform(
        table, schema, label, TransformOptions(**{**options.__dict__, "exclude": [other]})
    )
    estimator, _ = create_estimator(preset, task, {})
    if task == "classification":
        classes = sorted(set(table.column("y").to_pylist()))
        estimator.fit(fitted.matrix(table), np.searchsorted(classes, table.column("y")))
        save_model(path, estimator, fitted, task=task, label=label, classes=classes)
    else:
        estimator.fit(fitted.matrix(table), np.asarray(table.column("v")))
        save_model(path, estimator, fitted, task=task, label=label)
    return load_model(path)


CLASSIFIERS = ["sklearn:LogisticRegression", "sklearn:RandomForestClassifier", "lightgbm"]
CLASSIFIERS += ["xgboost"]


@pytest.mark.parametrize("preset", CLASSIFIERS)
def test_export_onnx_predicts_like_the_model_with_missing_and_unseen_values(tmp_path, preset):
    model = _train(str(tmp_path / "m"), preset, "classification")
    rows = _with_gaps(_table(300, seed=1))
    data = export_onnx(model)
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    prediction, proba = session.run(None, onnx_inputs(model, rows))
    expected = model.predict_proba(rows)
    top2 = np.sort(expected, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-4  # a forest's votes can tie; either label is right
    assert clear.mean() > 0.9
    assert list(prediction[clear]) == list(model.predict(rows)[clear])
    assert np.abs(proba - expected).max() < 1e-4
    parity = check_parity(model, data, rows)
    assert parity.passed and parity.rows == 300 and parity.label_agreement == 1.0


@pytest.mark.parametrize("preset", ["sklearn:Ridge", "lightgbm", "xgboost"])
def test_export_onnx_of_a_regressor_passes_parity_relative_to_the_values(tmp_path, preset):
    model = _train(str(tmp_path / "m"), preset, "regression")
    rows = _with_gaps(_table(300, seed=1))
    data = export_onnx(model)
    parity = check_parity(model, data, rows)
    assert parity.passed, parity
    assert parity.max_rel_diff <= parity.max_abs_diff  # values are in the thousands
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    (prediction,) = session.run(None, onnx_inputs(model, rows))
    assert np.allclose(prediction, model.predict(rows), rtol=1e-5)


def test_parity_fails_when_the_tolerance_is_tighter_than_float32(tmp_path):
    model = _train(str(tmp_path / "m"), "lightgbm", "regression")
    parity = check_parity(model, export_onnx(model), _table(200, seed=2), tolerance=0.0)
    assert not parity.passed and parity.max_abs_diff > 0


def test_a_hashed_feature_cannot_be_exported_and_the_error_names_it(tmp_path):
    options = TransformOptions(encodings={"colour": "hash"})
    model = _train(str(tmp_path / "m"), "sklearn:LogisticRegression", "classification", options)
    with pytest.raises(ArtifactError, match=r"\['colour'\] are hash-encoded.*'onehot'"):
        export_onnx(model)


def test_a_preprocessing_function_cannot_be_exported(tmp_path):
    model = _train(str(tmp_path / "m"), "sklearn:LogisticRegression", "classification")
    model.transform.preprocessing_fn = "features:add"
    with pytest.raises(ArtifactError, match="Python function 'features:add'"):
        export_onnx(model)


def test_an_estimator_without_a_converter_says_so_in_one_line(tmp_path):
    model = _train(str(tmp_path / "m"), "sklearn:DummyClassifier", "classification")
    with pytest.raises(ArtifactError, match=r"DummyClassifier .* cannot be converted") as info:
        export_onnx(model)
    assert "\n" not in str(info.value)
