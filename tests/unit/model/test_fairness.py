"""The fairness view: metric gaps and ratios across the values of each sliced feature."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from conveyor.model.evaluation import EvalConfig, SliceSpec, evaluate_slices
from conveyor.model.fairness import default_fairness_metrics, fairness_report


def _entry(features: dict[str, str], count: int = 100, **metrics: Any) -> dict[str, Any]:
    return {"count": count, "metrics": metrics, "too_small": count < 30, "features": features}


SLICES = {
    "overall": _entry({}, 1000, recall=0.7, positive_rate=0.3),
    "sex=Female": _entry({"sex": "Female"}, recall=0.6, positive_rate=0.2),
    "sex=Male": _entry({"sex": "Male"}, recall=0.75, positive_rate=0.4),
    "race=A": _entry({"race": "A"}, recall=0.9, positive_rate=0.30),
    "race=B": _entry({"race": "B"}, recall=0.5, positive_rate=0.25),
    "race=C": _entry({"race": "C"}, recall=0.7, positive_rate=0.35),
    "race=D": _entry({"race": "D"}, 12, recall=0.0, positive_rate=1.0),  # too small
    "sex=Female&race=B": _entry({"sex": "Female", "race": "B"}, recall=0.1, positive_rate=0.9),
}


def test_gaps_ratios_and_extremes_per_feature_and_metric():
    report = fairness_report(SLICES, ["recall", "positive_rate"])
    assert report is not None
    assert report["metrics"] == ["recall", "positive_rate"]
    sex = report["features"]["sex"]
    assert sex["recall"]["values"] == {"Female": 0.6, "Male": 0.75}
    assert sex["recall"]["gap"] == pytest.approx(0.15)
    assert sex["recall"]["ratio"] == pytest.approx(0.6 / 0.75)
    assert sex["recall"]["max_slice"] == "sex=Male" and sex["recall"]["min_slice"] == "sex=Female"
    assert sex["positive_rate"]["ratio"] == pytest.approx(0.5)  # the four-fifths figure
    race = report["features"]["race"]
    assert race["recall"]["values"] == {"A": 0.9, "B": 0.5, "C": 0.7}  # D is too small
    assert race["recall"]["gap"] == pytest.approx(0.4)
    assert (race["recall"]["max_slice"], race["recall"]["min_slice"]) == ("race=A", "race=B")
    assert race["positive_rate"]["gap"] == pytest.approx(0.10)


def test_largest_gap_across_features_and_metrics():
    report = fairness_report(SLICES, ["recall", "positive_rate"])
    largest = report["largest"]
    # candidates: sex recall .15, sex rate .2, race recall .4, race rate .1
    assert largest["feature"] == "race" and largest["metric"] == "recall"
    assert largest["gap"] == pytest.approx(0.4)
    assert largest["ratio"] == pytest.approx(0.5 / 0.9)
    assert (largest["max_slice"], largest["min_slice"]) == ("race=A", "race=B")
    assert "values" not in largest
    only_rate = fairness_report(SLICES, ["positive_rate"])["largest"]
    assert (only_rate["feature"], only_rate["metric"]) == ("sex", "positive_rate")
    assert only_rate["gap"] == pytest.approx(0.2)


def test_too_small_slices_are_excluded_and_listed():
    report = fairness_report(SLICES, ["recall"])
    assert report["excluded"] == ["race=D"]
    assert "D" not in report["features"]["race"]["recall"]["values"]
    # with race=D judged, it would be the minimum of recall
    judged = {**SLICES, "race=D": _entry({"race": "D"}, 100, recall=0.0)}
    again = fairness_report(judged, ["recall"])
    assert again["excluded"] == [] and again["features"]["race"]["recall"]["min_slice"] == "race=D"


def test_crosses_and_the_overall_slice_are_ignored():
    report = fairness_report(SLICES, ["recall"])
    assert set(report["features"]) == {"sex", "race"}
    # the cross's recall (0.1) would otherwise be the smallest value of some feature
    assert all(
        entry["min_slice"] != "sex=Female&race=B"
        for metrics in report["features"].values()
        for entry in metrics.values()
    )
    assert "sex=Female&race=B" not in report["excluded"]


def test_none_when_nothing_can_be_compared():
    assert fairness_report({}, ["recall"]) is None
    assert fairness_report({"overall": SLICES["overall"]}, ["recall"]) is None
    one_value = {"overall": SLICES["overall"], "sex=Female": SLICES["sex=Female"]}
    assert fairness_report(one_value, ["recall"]) is None
    # two values, but one too small
    small = {
        "sex=Female": SLICES["sex=Female"],
        "sex=Male": _entry({"sex": "Male"}, 5, recall=0.7),
    }
    assert fairness_report(small, ["recall"]) is None
    # only crosses
    cross = {k: v for k, v in SLICES.items() if "&" in k}
    assert fairness_report(cross, ["recall"]) is None
    # metric not computed
    assert fairness_report(SLICES, ["mae"]) is None


def test_non_finite_and_missing_values_are_skipped():
    slices = {
        "g=a": _entry({"g": "a"}, calibration=math.inf, recall=0.5),
        "g=b": _entry({"g": "b"}, calibration=1.1, recall=None),
        "g=c": _entry({"g": "c"}, calibration=0.9, recall=0.8),
        "g=d": _entry({"g": "d"}, calibration=float("nan")),
    }
    report = fairness_report(slices, ["calibration", "recall"])
    g = report["features"]["g"]
    assert g["calibration"]["values"] == {"b": 1.1, "c": 0.9}
    assert g["recall"]["values"] == {"a": 0.5, "c": 0.8}


def test_ratio_is_none_when_the_highest_value_is_zero():
    slices = {
        "g=a": _entry({"g": "a"}, false_positive_rate=0.0),
        "g=b": _entry({"g": "b"}, false_positive_rate=0.0),
    }
    entry = fairness_report(slices, ["false_positive_rate"])["features"]["g"]["false_positive_rate"]
    assert entry["gap"] == 0.0 and entry["ratio"] is None


def test_report_from_evaluate_slices_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    n = 2000
    group = rng.choice(["x", "y", "z"], n, p=[0.5, 0.45, 0.05])  # z: ~100 rows
    truth = rng.integers(0, 2, n)
    flip = rng.random(n) < np.select([group == "x", group == "y"], [0.1, 0.3], 0.2)
    pred = np.where(flip, 1 - truth, truth)
    slices = evaluate_slices(
        {"g": group.tolist()}, truth, pred, None, EvalConfig(slices=(SliceSpec(("g",)),))
    )
    report = fairness_report(slices, default_fairness_metrics("classification", 2))
    recall = {v: float(np.mean(pred[(group == v) & (truth == 1)] == 1)) for v in ("x", "y", "z")}
    entry = report["features"]["g"]["recall"]
    assert entry["values"] == pytest.approx(recall)
    assert entry["gap"] == pytest.approx(max(recall.values()) - min(recall.values()))
    assert entry["ratio"] == pytest.approx(min(recall.values()) / max(recall.values()))
    fpr = {v: float(np.mean(pred[(group == v) & (truth == 0)] == 1)) for v in ("x", "y", "z")}
    assert report["features"]["g"]["false_positive_rate"]["values"] == pytest.approx(fpr)
    assert set(report["features"]["g"]) == {"recall", "false_positive_rate", "positive_rate"}


@pytest.mark.parametrize(
    ("task", "k", "expected"),
    [
        ("classification", 2, ("recall", "false_positive_rate", "positive_rate")),
        ("classification", 3, ("accuracy", "recall_macro")),
        ("classification", 5, ("accuracy", "recall_macro")),
        ("regression", 0, ("mae",)),
    ],
)
def test_default_metrics_per_task(task, k, expected):
    assert default_fairness_metrics(task, k) == expected


def test_fairness_features_limit_the_comparison():
    report = fairness_report(SLICES, ["recall"], ["sex"])
    assert set(report["features"]) == {"sex"}
    assert report["largest"]["feature"] == "sex"
    assert report["largest"]["gap"] == pytest.approx(0.15)
    assert report["excluded"] == []  # race=D is too small, but race is not compared
    assert fairness_report(SLICES, ["recall"], ["race"])["excluded"] == ["race=D"]
    assert fairness_report(SLICES, ["recall"], ["country"]) is None


def test_fairness_features_need_a_single_column_slice():
    config = EvalConfig(slices=(SliceSpec(("sex",)),), fairness_features=("sex",))
    assert config.fairness_features == ("sex",)
    assert EvalConfig.from_dict(config.to_dict()) == config
    bucketed = EvalConfig(slices=(SliceSpec(buckets={"age": [30]}),), fairness_features=["age"])
    assert bucketed.fairness_features == ("age",)
    for slices in ((), (SliceSpec(("sex", "race")),), (SliceSpec(("race",)),)):
        with pytest.raises(ValueError, match=r"fairness_features \['sex'\]") as info:
            EvalConfig(slices=slices, fairness_features=("sex",))
        assert "{'feature_keys': ['sex']}" in str(info.value)
