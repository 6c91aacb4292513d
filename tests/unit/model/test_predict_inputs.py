"""A loaded model predicts on every common form of rows, with NaN and None as missing."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from toy_models import CLASSES, SCHEMA, toy_table

from conveyor.errors import ConveyorError, InputError
from conveyor.model.presets import create_estimator
from conveyor.model.rows import as_table
from conveyor.model.saved import LoadedModel, load_model, save_model
from conveyor.model.transform import fit_transform

TABLE = toy_table(300)
ROWS = {"x": [3.0, -3.0, math.nan, None, 0.2], "c": ["a", "zzz", None, math.nan, "b"]}
"""Five rows: a confident yes, an unknown category, and missing values written both ways."""


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    path = str(tmp_path_factory.mktemp("model") / "m")
    fitted = fit_transform(TABLE, SCHEMA, "y")
    estimator, _ = create_estimator("sklearn:LogisticRegression", "classification", {})
    y = np.searchsorted(CLASSES, np.asarray(TABLE.column("y").to_pylist()))
    estimator.fit(fitted.matrix(TABLE), y)
    save_model(path, estimator, fitted, task="classification", label="y", classes=CLASSES)
    return load_model(path)


def _expected(model: LoadedModel) -> np.ndarray:
    """The predictions on ROWS built by hand as an Arrow table with nulls for missing."""
    table = pa.table(
        {
            "x": pa.array([3.0, -3.0, None, None, 0.2], pa.float64()),
            "c": pa.array(["a", "zzz", None, None, "b"], pa.string()),
        }
    )
    return model.predict_proba(table)


def test_a_dict_of_lists_holding_nan_and_none_predicts_with_them_as_missing(model):
    np.testing.assert_array_equal(model.predict_proba(ROWS), _expected(model))
    assert list(model.predict(ROWS))[:2] == ["yes", "no"]


def test_a_list_of_row_dicts_holding_nan_predicts_like_the_dict_of_lists(model):
    rows = [dict(zip(ROWS, values, strict=True)) for values in zip(*ROWS.values(), strict=True)]
    np.testing.assert_array_equal(model.predict_proba(rows), _expected(model))


def test_a_dict_of_numpy_arrays_predicts(model):
    data = {"x": np.array([3.0, -3.0, np.nan, np.nan, 0.2]), "c": np.array(ROWS["c"], object)}
    np.testing.assert_array_equal(model.predict_proba(data), _expected(model))


def test_a_pandas_dataframe_predicts_with_nan_and_none_as_missing(model):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(ROWS, index=[10, 11, 12, 13, 14])  # a non-default index is ignored
    np.testing.assert_array_equal(model.predict_proba(frame), _expected(model))
    assert list(model.predict(frame)) == list(model.predict(ROWS))
    categorical = frame.astype({"c": "category"})
    np.testing.assert_array_equal(model.predict_proba(categorical), _expected(model))
    nullable = frame.astype({"x": "Float64", "c": "string"})
    np.testing.assert_array_equal(model.predict_proba(nullable), _expected(model))


def test_a_polars_dataframe_and_lazyframe_predict_with_nan_and_null_as_missing(model):
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame(
        {"x": [3.0, -3.0, float("nan"), None, 0.2], "c": ["a", "zzz", None, None, "b"]}
    )
    np.testing.assert_array_equal(model.predict_proba(frame), _expected(model))
    np.testing.assert_array_equal(model.predict_proba(frame.lazy()), _expected(model))


def test_an_arrow_record_batch_predicts(model):
    batch = pa.RecordBatch.from_pydict({"x": [3.0, -3.0], "c": ["a", "zzz"]})
    assert list(model.predict(batch)) == ["yes", "no"]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("x=3,c=a", "got str"),
        (42, "got int"),
        (np.zeros((2, 2)), "got numpy.ndarray"),
        ([{"x": 1.0, "c": "a"}, [1.0, "a"]], "item 1 of the list is a list"),
        ({"x": 3.0, "c": "a"}, "Column 'x' must be a list of values"),
        ({"x": [1.0, "a"], "c": ["a", "b"]}, "Column 'x' mixes types"),
        ({"x": [1.0, 2.0], "c": ["a"]}, "different lengths"),
    ],
)
def test_anything_else_is_refused_with_what_predict_takes(model, data, words):
    with pytest.raises(InputError, match=words) as caught:
        model.predict(data)
    assert isinstance(caught.value, ConveyorError) and isinstance(caught.value, TypeError)


def test_a_pandas_series_is_refused_with_what_predict_takes(model):
    pd = pytest.importorskip("pandas")
    with pytest.raises(InputError, match="pandas or polars DataFrame"):
        model.predict(pd.Series([1.0, 2.0], name="x"))


def test_as_table_turns_nan_into_null_and_view_strings_into_plain_ones():
    table = as_table(
        pa.table(
            {
                "f": pa.array([1.0, math.nan, None]),
                "s": pa.array(["a", None, "b"], pa.string_view()),
                "d": pa.array(["u", "v", "u"]).dictionary_encode(),
            }
        )
    )
    assert table.column("f").to_pylist() == [1.0, None, None]
    assert table.schema.field("s").type == pa.string()
    assert table.column("d").to_pylist() == ["u", "v", "u"]
    assert table.schema.field("d").type == pa.string()
