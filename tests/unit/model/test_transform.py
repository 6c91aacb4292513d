"""The transform: fitted on train only, applied identically elsewhere, saved as JSON."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from conveyor.data.model import DataSchema, FeatureSchema, FeatureType
from conveyor.model.transform import TransformOptions, fit_transform, load_transform

SCHEMA = DataSchema(
    [
        FeatureSchema("age", FeatureType.INT),
        FeatureSchema("color", FeatureType.STRING, values=["red", "blue"]),
        FeatureSchema("note", FeatureType.STRING),
        FeatureSchema("y", FeatureType.INT, not_in_environments=["SERVING"]),
    ]
)
TRAIN = pa.table(
    {
        "age": [10, 20, None, 30],
        "color": ["red", "blue", "red", None],
        "note": ["a", "b", "c", "d"],
        "y": [0, 1, 0, 1],
    }
)
EVAL = pa.table(
    {"age": [1000, 2000], "color": ["green", "blue"], "note": ["a", "zzz"], "y": [1, 0]}
)


def add_ratio(table: pa.Table) -> pa.Table:
    """A custom feature for the user-function test."""
    age = np.asarray(table.column("age").to_numpy(zero_copy_only=False), dtype=float)
    return table.append_column("age_over_10", pa.array(age / 10))


def test_transform_scaler_is_fitted_on_train_only():
    fitted = fit_transform(TRAIN, SCHEMA, "y")
    step = fitted.step("age")
    assert step.kind == "scale"
    assert step.params["mean"] == pytest.approx(20.0)  # train mean, not eval's 1500
    assert step.params["std"] == pytest.approx(np.std([10, 20, 30]))
    out = fitted.apply(EVAL)
    assert out.column("age").to_pylist() == pytest.approx(
        [(1000 - 20) / step.params["std"], (2000 - 20) / step.params["std"]]
    )


def test_transform_imputes_missing_numbers_with_the_train_mean():
    out = fit_transform(TRAIN, SCHEMA, "y").apply(TRAIN)
    assert out.column("age").to_pylist()[2] == pytest.approx(0.0)


def test_transform_onehot_sends_unseen_and_missing_values_to_oov():
    fitted = fit_transform(TRAIN, SCHEMA, "y")
    assert fitted.step("color").params["vocabulary"] == ["red", "blue"]
    out = fitted.apply(EVAL)
    assert out.column("color=<OOV>").to_pylist() == [1.0, 0.0]
    assert out.column("color=blue").to_pylist() == [0.0, 1.0]
    assert fitted.apply(TRAIN).column("color=<OOV>").to_pylist() == [0, 0, 0, 1]


def test_transform_ordinal_and_hash_encodings():
    options = TransformOptions(categorical="ordinal", hash_buckets=4)
    fitted = fit_transform(TRAIN, SCHEMA, "y", options)
    assert fitted.apply(EVAL).column("color").to_pylist() == [0.0, 2.0]  # 0: out of vocabulary
    hashed = fitted.apply(EVAL).select([n for n in fitted.output_names if n.startswith("note")])
    assert hashed.num_columns == 4
    assert [sum(row.values()) for row in hashed.to_pylist()] == [1.0, 1.0]
    again = fitted.apply(pa.table({"age": [1], "color": ["x"], "note": ["a"]}))
    assert again.select(hashed.column_names).to_pylist()[0] == hashed.to_pylist()[0]


def test_transform_bucketizes_by_train_quantiles():
    table = pa.table({"age": list(range(100)), "y": [0, 1] * 50})
    schema = DataSchema(
        [FeatureSchema("age", FeatureType.INT), FeatureSchema("y", FeatureType.INT)]
    )
    fitted = fit_transform(
        table, schema, "y", TransformOptions(encodings={"age": "bucketize"}, num_buckets=4)
    )
    assert fitted.step("age").params["boundaries"] == pytest.approx([24.75, 49.5, 74.25])
    out = fitted.apply(pa.table({"age": [-5, 30, 500]}))
    assert out.column("age").to_pylist() == [0.0, 1.0, 3.0]


def test_transform_excludes_the_label_and_passes_it_through():
    fitted = fit_transform(TRAIN, SCHEMA, "y")
    assert "y" not in fitted.inputs and "y" not in fitted.output_names
    assert fitted.apply(TRAIN).column("y").to_pylist() == [0, 1, 0, 1]
    assert "y" not in fitted.apply(TRAIN, keep_label=False).column_names


def test_transform_round_trips_through_inspectable_json(tmp_path):
    fitted = fit_transform(TRAIN, SCHEMA, "y")
    file = fitted.save(str(tmp_path / "tg"))
    with open(file) as fh:
        data = json.load(fh)
    assert {s["feature"]: s["kind"] for s in data["steps"]} == {
        "age": "scale", "color": "onehot", "note": "hash",
    }  # fmt: skip
    loaded = load_transform(str(tmp_path / "tg"))
    assert loaded.apply(EVAL).equals(fitted.apply(EVAL))


def test_transform_user_function_adds_features_recorded_by_reference():
    options = TransformOptions(preprocessing_fn=f"{__name__}:add_ratio")
    fitted = fit_transform(TRAIN, SCHEMA, "y", options)
    assert fitted.step("age_over_10").kind == "scale"
    assert fitted.to_dict()["preprocessing_fn"] == f"{__name__}:add_ratio"
    assert fitted.apply(EVAL).column("age_over_10").to_pylist()[0] > 10


def test_transform_apply_names_missing_columns():
    fitted = fit_transform(TRAIN, SCHEMA, "y")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['color'\]"):
        fitted.apply(pa.table({"age": [1], "note": ["a"]}))


def test_transform_options_reject_unknown_encodings():
    with pytest.raises(ValueError, match="Unknown encoding 'embed'"):
        TransformOptions(encodings={"age": "embed"})
    with pytest.raises(ValueError, match="unknown feature"):
        fit_transform(TRAIN, SCHEMA, "y", TransformOptions(encodings={"agee": "scale"}))


def test_integers_past_2_to_the_53_round_to_floats_instead_of_failing():
    # found by the serving fuzz bench: a 64-bit integer a float64 cannot hold exactly
    big = pa.table({"age": pa.array([2**62 + 1, 10], pa.int64()), "color": ["red", "red"],
                    "note": ["a", "b"], "y": [1, 0]})  # fmt: skip
    fitted = fit_transform(TRAIN, SCHEMA, "y")
    step = fitted.step("age")
    out = fitted.apply(big).column("age").to_pylist()
    assert out[0] == pytest.approx((float(2**62) - 20) / step.params["std"])
    assert np.isfinite(fit_transform(big, SCHEMA, "y").matrix(big)).all()  # fitted on them too
