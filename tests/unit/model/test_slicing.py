"""Slice membership and per-slice metrics, checked against a direct pandas groupby."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.metrics import roc_auc_score

from conveyor.model.evaluation import DEFAULT_MIN_SLICE_SIZE, EvalConfig, SliceSpec, evaluate_slices
from conveyor.model.slicing import SliceGroup, format_value, slice_groups

N = 5000
COLORS = ["red", "green", "blue", "amber"]
AGE_BOUNDS = [30, 50]


def _make_data() -> dict[str, Any]:
    """A random eval table: a string column with nulls, a bool, an int with nulls, a float
    with NaN *and* nulls (bucketed), labels, predictions and probabilities."""
    rng = np.random.default_rng(20240601)
    color = rng.choice(COLORS, p=[0.45, 0.35, 0.195, 0.005], size=N).astype(object)
    color[rng.random(N) < 0.04] = None
    flag = rng.random(N) < 0.3
    count = rng.integers(0, 12, N)  # "10" and "11" sort before "2" by name
    count_missing = rng.random(N) < 0.02
    age = rng.uniform(0, 90, N)
    age[:40] = 30.0  # exactly on a boundary: belongs to [30,50)
    age[40:80] = 50.0
    age[80:100] = 29.999
    age_nan = rng.random(N) < 0.03
    age_null = (rng.random(N) < 0.03) & ~age_nan
    age[age_nan] = np.nan
    table = pa.table(
        {
            "color": pa.array(color.tolist(), type=pa.string()),
            "flag": pa.array(flag),
            "count": pa.array(count, mask=count_missing),
            "age": pa.array(age, mask=age_null),  # NaN stays NaN, the mask makes nulls
        }
    )
    assert table.column("age").null_count == age_null.sum() > 0
    assert np.isnan(table.column("age").to_numpy(zero_copy_only=False)).sum() > age_null.sum()

    logit = (
        -0.5
        + 1.2 * flag
        + 0.02 * (np.nan_to_num(age, nan=40.0) - 40)
        + np.where(color == "blue", 0.8, 0.0)
    )
    y = (rng.random(N) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    score = 1 / (1 + np.exp(-(logit + rng.normal(0, 1.0, N))))
    proba = np.column_stack([1 - score, score])
    pred = (score >= 0.5).astype(np.int64)

    # independent labels, computed in pandas from the raw arrays
    age_for_cut = age.copy()
    age_for_cut[age_null] = np.nan
    cut = pd.cut(
        pd.Series(age_for_cut),
        bins=[-np.inf, *AGE_BOUNDS, np.inf],
        right=False,
        labels=["(-inf,30)", "[30,50)", "[50,inf)"],
    )
    frame = pd.DataFrame(
        {
            "color": ["null" if c is None else c for c in color],
            "flag": np.where(flag, "True", "False"),
            "count": np.where(count_missing, "null", count.astype(str)),
            "age": cut.cat.add_categories("null").fillna("null").astype(str),
            "y": y,
            "pred": pred,
            "p1": score,
        }
    )
    return {"table": table, "frame": frame, "y": y, "pred": pred, "proba": proba}


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return _make_data()


SPECS = (
    SliceSpec(("color",)),
    SliceSpec(("flag",)),
    SliceSpec(("count",)),
    SliceSpec(buckets={"age": AGE_BOUNDS}),
    SliceSpec(("color", "flag")),
    SliceSpec(("flag",), buckets={"age": AGE_BOUNDS}),
)


def _expected_groups(frame: pd.DataFrame, columns: tuple[str, ...]) -> dict[tuple, np.ndarray]:
    grouped = frame.groupby(list(columns), sort=False).indices
    out = {}
    for key, rows in grouped.items():
        out[key if isinstance(key, tuple) else (key,)] = np.sort(np.asarray(rows))
    return out


def _name(columns: tuple[str, ...], values: tuple) -> str:
    return "&".join(f"{c}={v}" for c, v in zip(columns, values, strict=True))


def test_slices_match_a_pandas_groupby(data):
    groups = slice_groups(data["table"], SPECS, N)
    position = 0
    for spec in SPECS:
        expected = _expected_groups(data["frame"], spec.columns)
        got = groups[position : position + len(expected)]
        position += len(expected)
        # the spec's slices, in sorted order of their values
        assert [g.name for g in got] == [_name(spec.columns, k) for k in sorted(expected)]
        covered = np.zeros(N, dtype=np.int64)
        for group in got:
            key = tuple(group.features[c] for c in spec.columns)
            assert list(group.features) == list(spec.columns)
            assert len(group.rows) == len(expected[key])
            assert np.array_equal(np.sort(group.rows), expected[key]), group.name
            np.add.at(covered, group.rows, 1)
        assert np.all(covered == 1)  # every row in exactly one slice of the spec
    assert position == len(groups)  # nothing else (no overall slice)


def test_single_column_slices_come_in_sorted_name_order(data):
    groups = slice_groups(data["table"], [SliceSpec(("count",))], N)
    names = [g.name for g in groups]
    assert names == sorted(names)
    assert names[:4] == ["count=0", "count=1", "count=10", "count=11"]
    assert names[-1] == "count=null"


def test_names_of_values_crosses_buckets_and_missing_values():
    table = pa.table(
        {
            "sex": ["Female", "Male", None, "Female", "Female"],
            "race": ["White", "Black", "White", "Black", "White"],
            "age": pa.array([25.0, 30.0, 49.5, 50.0, float("nan")]),
            "score": [1.5, 2.0, None, 1.5, 0.25],
        }
    )
    specs = [
        SliceSpec(("sex",)),
        SliceSpec(("sex", "race")),
        SliceSpec(buckets={"age": [30, 50]}),
        SliceSpec(("score",)),
        SliceSpec(buckets={"score": [0.5, 1.75]}),
    ]
    groups = slice_groups(table, specs, 5)
    assert [g.name for g in groups] == [
        "sex=Female",
        "sex=Male",
        "sex=null",
        "sex=Female&race=Black",
        "sex=Female&race=White",
        "sex=Male&race=Black",
        "sex=null&race=White",
        "age=(-inf,30)",
        "age=[30,50)",
        "age=[50,inf)",
        "age=null",
        "score=0.25",
        "score=1.5",
        "score=2",
        "score=null",
        "score=(-inf,0.5)",
        "score=[0.5,1.75)",
        "score=[1.75,inf)",
        "score=null",
    ]
    by_name = {g.name: g for g in groups[:-4]}
    assert by_name["sex=Female&race=White"].features == {"sex": "Female", "race": "White"}
    assert by_name["sex=Female&race=White"].rows.tolist() == [0, 4]
    assert by_name["age=[30,50)"].rows.tolist() == [1, 2]  # 30 is in [30,50)
    assert by_name["age=[50,inf)"].rows.tolist() == [3]
    assert by_name["age=null"].rows.tolist() == [4]  # NaN counts as missing
    assert by_name["age=(-inf,30)"].features == {"age": "(-inf,30)"}
    assert by_name["sex=null"].rows.tolist() == [2]
    assert isinstance(by_name["sex=Male"], SliceGroup)


def test_format_value():
    assert format_value(None) == "null"
    assert format_value(float("nan")) == "null"
    assert format_value(2.0) == "2"
    assert format_value(-3.0) == "-3"
    assert format_value(12345.61) == "12345.61"
    assert format_value(1234567.0) == "1234567"
    assert format_value(float("inf")) == "inf" and format_value(-math.inf) == "-inf"
    for value in (0.1, 1e-7, 2.5e20, 123456.789012345):
        assert float(format_value(value)) == value  # reads back as the same float
    assert format_value(0.25) == "0.25"
    assert format_value(True) == "True"
    assert format_value(7) == "7"
    assert format_value("FR") == "FR"


def test_a_mapping_of_columns_slices_like_a_table(data):
    table = data["table"]
    mapping = {
        "color": table.column("color").to_pylist(),
        "flag": np.asarray(table.column("flag").to_pylist()),
        "age": table.column("age"),  # a ChunkedArray
    }
    specs = [SliceSpec(("color", "flag")), SliceSpec(buckets={"age": AGE_BOUNDS})]
    from_table = slice_groups(table, specs, N)
    from_mapping = slice_groups(mapping, specs, N)
    assert [g.name for g in from_mapping] == [g.name for g in from_table]
    for a, b in zip(from_mapping, from_table, strict=True):
        assert np.array_equal(a.rows, b.rows)


def test_dictionary_encoded_columns_slice_by_their_values():
    plain = pa.table({"c": ["b", "a", None, "b"]})
    encoded = pa.table({"c": pa.array(["b", "a", None, "b"]).dictionary_encode()})
    spec = [SliceSpec(("c",))]
    assert [(g.name, g.rows.tolist()) for g in slice_groups(encoded, spec, 4)] == [
        (g.name, g.rows.tolist()) for g in slice_groups(plain, spec, 4)
    ]


def test_empty_spec_and_no_specs_give_no_slices():
    table = pa.table({"c": ["a", "b"]})
    assert slice_groups(table, [], 2) == []
    assert slice_groups(table, [SliceSpec()], 2) == []


@pytest.mark.parametrize("as_mapping", [False, True])
def test_a_missing_column_is_named_with_the_columns_there_are(as_mapping):
    data = {"sex": ["F", "M"], "age": [1.0, 2.0]}
    table = data if as_mapping else pa.table(data)
    with pytest.raises(ValueError, match=r"Slice column 'race' is not in the eval data") as info:
        slice_groups(table, [SliceSpec(("race",))], 2)
    assert "sex" in str(info.value) and "age" in str(info.value)


@pytest.mark.parametrize("as_mapping", [False, True])
def test_a_column_of_another_length_is_refused(as_mapping):
    data = {"sex": ["F", "M", "F"]}
    table = data if as_mapping else pa.table(data)
    with pytest.raises(ValueError, match=re.escape("Slice column 'sex' has 3 rows, expected 4")):
        slice_groups(table, [SliceSpec(("sex",))], 4)


def test_a_bucketed_column_must_be_numeric():
    table = pa.table({"age": ["young", "old"]})
    with pytest.raises(ValueError, match=r"Bucketed slice columns must be numeric, got string"):
        slice_groups(table, [SliceSpec(buckets={"age": [30]})], 2)
    with pytest.raises(ValueError, match="feature_keys"):  # says how to slice it instead
        slice_groups(table, [SliceSpec(buckets={"age": [30]})], 2)


def test_bucket_specs_are_validated():
    with pytest.raises(ValueError, match="strictly increasing"):
        SliceSpec(buckets={"age": [50, 30]})
    with pytest.raises(ValueError, match="at least one boundary"):
        SliceSpec(buckets={"age": []})
    with pytest.raises(ValueError, match="both keyed and bucketed"):
        SliceSpec(("age",), buckets={"age": [30]})


# --------------------------------------------------------------------------- evaluate_slices


def _pandas_metrics(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """count, accuracy, recall, precision, positive rate, Brier score and ROC AUC per slice,
    computed directly in pandas (ROC AUC with scikit-learn per group)."""
    f = frame.assign(
        correct=(frame.y == frame.pred).astype(float),
        brier=2.0 * (frame.p1 - frame.y) ** 2,  # sum over both classes
        pred1=(frame.pred == 1).astype(float),
    )
    g = f.groupby(columns)
    out = pd.DataFrame(
        {
            "count": g.size(),
            "accuracy": g["correct"].mean(),
            "positive_rate": g["pred1"].mean(),
            "brier_score": g["brier"].mean(),
        }
    )
    out["recall"] = f[f.y == 1].groupby(columns)["pred1"].mean().reindex(out.index).fillna(0.0)
    out["precision"] = (
        f[f.pred == 1].groupby(columns)["y"].mean().astype(float).reindex(out.index).fillna(0.0)
    )
    out["roc_auc"] = g.apply(
        lambda d: roc_auc_score(d.y, d.p1) if d.y.nunique() == 2 else math.nan,
        include_groups=False,
    )
    return out


def test_evaluate_slices_matches_pandas(data):
    config = EvalConfig(slices=SPECS)
    out = evaluate_slices(
        data["table"], data["y"], data["pred"], data["proba"], config, task="classification"
    )
    frame = data["frame"]
    assert next(iter(out)) == "overall"
    overall = out["overall"]
    assert overall["count"] == N and overall["too_small"] is False and overall["features"] == {}
    assert overall["metrics"]["accuracy"] == pytest.approx(float(np.mean(frame.y == frame.pred)))
    assert overall["metrics"]["roc_auc"] == pytest.approx(roc_auc_score(frame.y, frame.p1))
    checked = 0
    for spec in SPECS:
        columns = list(spec.columns)
        expected = _pandas_metrics(frame, columns)
        assert sum(1 for name in out if set(out[name]["features"]) == set(columns)) == len(expected)
        for key, row in expected.iterrows():
            key = key if isinstance(key, tuple) else (key,)
            entry = out[_name(spec.columns, key)]
            assert entry["count"] == row["count"]
            assert entry["features"] == dict(zip(columns, key, strict=True))
            metrics = entry["metrics"]
            for metric in ("accuracy", "recall", "precision", "positive_rate", "brier_score"):
                assert metrics[metric] == pytest.approx(row[metric], abs=1e-12), (key, metric)
            if math.isnan(row["roc_auc"]):
                assert "roc_auc" not in metrics
            else:
                assert metrics["roc_auc"] == pytest.approx(row["roc_auc"], abs=1e-12)
            checked += 1
    assert checked == len(out) - 1


def test_too_small_flags_use_the_default_minimum_of_30(data):
    assert EvalConfig().min_slice_size == DEFAULT_MIN_SLICE_SIZE == 30
    out = evaluate_slices(data["table"], data["y"], data["pred"], None, EvalConfig(slices=SPECS))
    flags = {name: entry["too_small"] for name, entry in out.items() if name != "overall"}
    assert flags == {name: out[name]["count"] < 30 for name in flags}
    assert any(flags.values()) and not all(flags.values())  # both kinds present
    assert out["color=amber"]["too_small"] is True  # ~0.5% of 5,000 rows
    assert out["color=red"]["too_small"] is False
    # too-small slices still carry their metrics
    assert "accuracy" in out["color=amber"]["metrics"]


def test_too_small_boundary_and_the_overall_slice_is_never_too_small():
    group = ["a"] * 30 + ["b"] * 29
    y = [0, 1] * 29 + [0]
    out = evaluate_slices({"g": group}, y, y, None, EvalConfig(slices=(SliceSpec(("g",)),)))
    assert out["g=a"]["too_small"] is False and out["g=a"]["count"] == 30
    assert out["g=b"]["too_small"] is True and out["g=b"]["count"] == 29
    small = evaluate_slices({"g": group[:5]}, y[:5], y[:5], None, EvalConfig())
    assert small["overall"]["too_small"] is False and small["overall"]["count"] == 5
    custom = EvalConfig(slices=(SliceSpec(("g",)),), min_slice_size=29)
    assert evaluate_slices({"g": group}, y, y, None, custom)["g=b"]["too_small"] is False


def test_evaluate_slices_limits_metrics_and_keeps_classes_fixed_per_slice():
    # the slice "g=b" only holds class 0: its confusion matrix still has both classes
    out = evaluate_slices(
        {"g": ["a", "a", "b", "b"]},
        [0, 1, 0, 0],
        [0, 1, 0, 1],
        None,
        EvalConfig(slices=(SliceSpec(("g",)),), metrics=("accuracy", "confusion_matrix")),
    )
    assert set(out["g=b"]["metrics"]) == {"accuracy", "confusion_matrix"}
    assert out["g=b"]["metrics"]["confusion_matrix"] == [[1, 1], [0, 0]]
    assert out["g=a"]["metrics"]["accuracy"] == 1.0


def test_evaluate_slices_regression_mae_matches_pandas(data):
    rng = np.random.default_rng(3)
    y = rng.normal(10, 3, N)
    pred = y + rng.normal(0, 1, N) * np.where(data["frame"]["flag"] == "True", 2.0, 0.5)
    out = evaluate_slices(data["table"], y, pred, None, EvalConfig(slices=(SliceSpec(("flag",)),)))
    frame = pd.DataFrame({"flag": data["frame"]["flag"], "err": np.abs(pred - y)})
    expected = frame.groupby("flag")["err"].mean()
    for value, mae in expected.items():
        assert out[f"flag={value}"]["metrics"]["mae"] == pytest.approx(mae, abs=1e-12)
    assert out["overall"]["metrics"]["mae"] == pytest.approx(frame["err"].mean())


def test_evaluate_slices_refuses_rows_of_different_lengths():
    with pytest.raises(ValueError, match="one row per example"):
        evaluate_slices({"g": ["a", "b"]}, [0, 1], [0], None, EvalConfig())


def test_distinct_float_values_get_distinct_slice_names():
    # six significant digits ('{:g}') would name 12345.61 and 12345.64 alike and
    # evaluate_slices would silently keep one of the two slices
    prices = [12345.61, 12345.64, 12345.61, 1.5, 1234567.0, 1234568.0]
    table = pa.table({"price": prices})
    groups = slice_groups(table, [SliceSpec(("price",))], len(prices))
    assert len(groups) == len(set(prices)) == 5
    assert len({g.name for g in groups}) == len(groups)
    out = evaluate_slices(
        table, [0] * 6, [0] * 6, None, EvalConfig(slices=(SliceSpec(("price",)),))
    )
    assert sum(e["count"] for name, e in out.items() if name != "overall") == len(prices)
    buckets = slice_groups(table, [SliceSpec(buckets={"price": [1234567.0, 1234567.5]})], 6)
    assert len({g.name for g in buckets}) == len(buckets) == 3


def test_the_text_null_and_a_missing_value_get_distinct_slices():
    table = pa.table({"c": ["null", None, "a", "null"]})
    groups = slice_groups(table, [SliceSpec(("c",))], 4)
    assert len(groups) == 3
    assert len({g.name for g in groups}) == 3  # distinct values, distinct names
    out = evaluate_slices(
        table, [0, 1, 0, 1], [0, 1, 1, 1], None, EvalConfig(slices=(SliceSpec(("c",)),))
    )
    assert sum(e["count"] for name, e in out.items() if name != "overall") == 4
