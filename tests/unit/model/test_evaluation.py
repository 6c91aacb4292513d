"""Evaluation: metrics, slices, thresholds and the blessing decision with its reasons."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from conveyor.model.blessing import Blessing, BlessingReason, decide_blessing
from conveyor.model.evaluation import (
    EvalConfig,
    MetricThreshold,
    SliceSpec,
    compute_metrics,
    evaluate_slices,
)

# 8 examples: truth, prediction, a categorical column, a second one, a numeric one
Y = ["a", "a", "b", "b", "c", "c", "a", "b"]
P = ["a", "b", "b", "b", "c", "a", "a", "c"]
COUNTRY = ["FR", "FR", "FR", "DE", "DE", "DE", "US", "US"]
DEVICE = ["ios", "web", "ios", "web", "ios", "web", "ios", "web"]
AGE = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, None]


def test_classification_metrics_match_a_direct_computation():
    m = compute_metrics("classification", Y, P, classes=["a", "b", "c"])
    correct = [t == p for t, p in zip(Y, P, strict=True)]
    assert m["accuracy"] == pytest.approx(sum(correct) / len(Y))
    precisions, recalls = [], []
    for c in "abc":
        tp = sum(t == c and p == c for t, p in zip(Y, P, strict=True))
        precisions.append(tp / sum(p == c for p in P))
        recalls.append(tp / sum(t == c for t in Y))
    assert m["precision_macro"] == pytest.approx(sum(precisions) / 3)
    assert m["recall_macro"] == pytest.approx(sum(recalls) / 3)
    assert m["precision"] == m["precision_macro"]  # several classes: macro
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 2, 1], [1, 0, 1]]


def test_binary_metrics_use_the_positive_class_and_probabilities():
    y = [0, 0, 1, 1, 1]
    p = [0, 1, 1, 1, 0]
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    m = compute_metrics("classification", y, p, proba, classes=[0, 1])
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    # pairs (positive, negative) ranked right: 0.8,0.7,0.4 vs 0.1,0.6 -> 5 of 6
    assert m["roc_auc"] == pytest.approx(5 / 6)
    loss = -np.mean(np.log([0.9, 0.4, 0.8, 0.7, 0.4]))
    assert m["log_loss"] == pytest.approx(loss)
    assert m["calibration"] == pytest.approx(np.mean(proba[:, 1]) / 0.6)
    assert 0 <= m["pr_auc"] <= 1 and 0 <= m["ece"] <= 1 and "brier_score" in m


def test_regression_metrics_match_a_direct_computation():
    y = [1.0, 2.0, 4.0, 8.0]
    p = [1.5, 2.0, 3.0, 10.0]
    m = compute_metrics("regression", y, p)
    errors = [b - a for a, b in zip(y, p, strict=True)]
    assert m["mae"] == pytest.approx(sum(abs(e) for e in errors) / 4)
    assert m["rmse"] == pytest.approx(math.sqrt(sum(e * e for e in errors) / 4))
    assert m["mape"] == pytest.approx(sum(abs(e) / a for e, a in zip(errors, y, strict=True)) / 4)
    mean = sum(y) / 4
    assert m["r2"] == pytest.approx(
        1 - sum(e * e for e in errors) / sum((a - mean) ** 2 for a in y)
    )


def test_slices_per_value_cross_and_bucket_are_exact():
    table = pa.table({"country": COUNTRY, "device": DEVICE, "age": AGE})
    config = EvalConfig(
        slices=(
            SliceSpec(("country",)),
            SliceSpec(("country", "device")),
            SliceSpec(buckets={"age": [25, 55]}),
        )
    )
    out = evaluate_slices(table, Y, P, None, config)
    assert next(iter(out)) == "overall" and out["overall"]["count"] == 8
    assert out["overall"]["metrics"]["accuracy"] == pytest.approx(5 / 8)
    # per value
    assert {k: v["count"] for k, v in out.items() if k.count("=") == 1 and "age" not in k} == {
        "country=DE": 3,
        "country=FR": 3,
        "country=US": 2,
    }
    assert out["country=FR"]["metrics"]["accuracy"] == pytest.approx(2 / 3)
    assert out["country=DE"]["metrics"]["accuracy"] == pytest.approx(2 / 3)
    assert out["country=US"]["metrics"]["accuracy"] == pytest.approx(1 / 2)
    # cross
    fr_ios = out["country=FR&device=ios"]
    assert fr_ios["count"] == 2 and fr_ios["metrics"]["accuracy"] == 1.0
    assert fr_ios["features"] == {"country": "FR", "device": "ios"}
    assert out["country=FR&device=web"]["metrics"]["accuracy"] == 0.0
    # buckets: (-inf,25) [25,55) [55,inf) and the missing value
    assert out["age=(-inf,25)"]["count"] == 2
    assert out["age=(-inf,25)"]["metrics"]["accuracy"] == 0.5
    assert out["age=[25,55)"]["count"] == 3
    assert out["age=[25,55)"]["metrics"]["accuracy"] == 1.0
    assert out["age=[55,inf)"]["count"] == 2
    assert out["age=null"]["count"] == 1


def test_config_round_trips_and_limits_metrics():
    config = EvalConfig.from_dict(
        {
            "metrics": ["accuracy", "log_loss"],
            "slices": [{"feature_keys": ["country"]}, {"buckets": {"age": [30]}}],
            "thresholds": [
                {"metric": "accuracy", "lower_bound": 0.5, "slices": "country=*"},
                {"metric": "log_loss", "change_absolute": 0.1},
            ],
            "min_slice_size": 3,
            "first_run_policy": "block",
        }
    )
    assert EvalConfig.from_dict(config.to_dict()) == config
    assert config.thresholds[1].direction == "lower_is_better"
    out = evaluate_slices({"country": COUNTRY}, Y, P, None, EvalConfig(metrics=("accuracy",)))
    assert set(out["overall"]["metrics"]) == {"accuracy"}
    with pytest.raises(ValueError, match="no bound"):
        MetricThreshold("accuracy")
    with pytest.raises(ValueError, match="Unknown eval config"):
        EvalConfig.from_dict({"threshold": []})
    with pytest.raises(ValueError, match="did you mean 'roc_auc'"):
        EvalConfig(thresholds=(MetricThreshold("roc_acu", lower_bound=0.5),))
    with pytest.raises(ValueError, match="leaves out: add it to metrics"):
        EvalConfig(metrics=("accuracy",), thresholds=(MetricThreshold("f1", lower_bound=0.5),))


def test_a_threshold_naming_no_slice_fails_and_bucket_names_match_literally():
    config = EvalConfig(
        thresholds=(
            MetricThreshold("roc_auc", lower_bound=0.5, slices=("sexx=*",)),
            MetricThreshold("roc_auc", lower_bound=0.9, slices=("age=[30,45)",)),
        )
    )
    slices = _slices(0.8)
    slices["age=[30,45)"] = {"count": 50, "metrics": {"roc_auc": 0.7}, "too_small": False}
    decision = decide_blessing(slices, None, config)
    assert decision.reason == BlessingReason.NOT_BLESSED_THRESHOLDS
    kinds = {(f.slice, f.kind) for f in decision.failures}
    assert kinds == {("sexx=*", "missing_slice"), ("age=[30,45)", "value")}


def _slices(value: float, **per_slice: float) -> dict[str, dict]:
    out = {"overall": {"count": 100, "metrics": {"roc_auc": value}, "too_small": False}}
    for name, v in per_slice.items():
        out[f"country={name}"] = {"count": 50, "metrics": {"roc_auc": v}, "too_small": False}
    return out


AUC = EvalConfig(
    thresholds=(
        MetricThreshold("roc_auc", lower_bound=0.8),
        MetricThreshold("roc_auc", change_absolute=-0.01, slices=("overall", "country=*")),
    )
)


def test_value_threshold_pass_and_fail():
    config = EvalConfig(thresholds=(MetricThreshold("roc_auc", lower_bound=0.8),))
    good = decide_blessing(_slices(0.85), _slices(0.8), config)
    assert good.blessed and good.reason == BlessingReason.BLESSED and not good.failures
    bad = decide_blessing(_slices(0.75), _slices(0.8), config)
    assert not bad.blessed and bad.reason == BlessingReason.NOT_BLESSED_THRESHOLDS
    (failure,) = bad.failures
    assert (failure.slice, failure.metric, failure.kind, failure.value) == (
        "overall",
        "roc_auc",
        "value",
        0.75,
    )


def test_change_threshold_names_the_failing_slice_and_metric():
    baseline = _slices(0.90, FR=0.90, DE=0.88)
    worse = decide_blessing(_slices(0.90, FR=0.85, DE=0.88), baseline, AUC)
    assert not worse.blessed and worse.reason == BlessingReason.NOT_BLESSED_THRESHOLDS
    (failure,) = worse.failures
    assert failure.slice == "country=FR" and failure.metric == "roc_auc"
    assert failure.kind == "change" and failure.baseline == 0.90 and failure.value == 0.85
    assert "country=FR" in failure.message
    better = decide_blessing(_slices(0.92, FR=0.91, DE=0.875), baseline, AUC)
    assert better.blessed and better.reason == BlessingReason.BLESSED
    # lower is better: log loss may not rise by more than 10%
    loss = EvalConfig(thresholds=(MetricThreshold("log_loss", change_relative=0.1),))
    base = {"overall": {"count": 9, "metrics": {"log_loss": 0.5}}}
    assert decide_blessing(
        {"overall": {"count": 9, "metrics": {"log_loss": 0.54}}}, base, loss
    ).blessed
    refused = decide_blessing({"overall": {"count": 9, "metrics": {"log_loss": 0.6}}}, base, loss)
    assert refused.reason == BlessingReason.NOT_BLESSED_THRESHOLDS


def test_no_thresholds_is_an_explicit_recorded_decision():
    decision = decide_blessing(_slices(0.5), None, EvalConfig())
    assert decision.blessed and decision.reason == BlessingReason.NO_THRESHOLDS_CONFIGURED
    blocked = decide_blessing(_slices(0.5), None, EvalConfig(no_thresholds_policy="block"))
    assert not blocked.blessed and blocked.reason == BlessingReason.NO_THRESHOLDS_CONFIGURED
    assert decision.to_dict()["reason"] == "NO_THRESHOLDS_CONFIGURED"


def test_first_run_checks_value_thresholds_only_or_blocks():
    first = decide_blessing(_slices(0.85, FR=0.5), None, AUC)
    assert first.blessed and first.reason == BlessingReason.FIRST_RUN_VALUE_THRESHOLDS_ONLY
    assert not first.has_baseline
    assert {s["reason"] for s in first.skipped} == {"no_baseline"}
    failing = decide_blessing(_slices(0.7), None, AUC)
    assert not failing.blessed and failing.reason == BlessingReason.NOT_BLESSED_THRESHOLDS
    blocked = decide_blessing(_slices(0.85), None, AUC, first_run_policy="block")
    assert not blocked.blessed and blocked.reason == BlessingReason.FIRST_RUN_BLOCKED


def test_forced_blessing_records_its_reason_and_the_failures():
    forced = decide_blessing(
        _slices(0.7, FR=0.7), _slices(0.9, FR=0.9), AUC, force_reason="hotfix approved by on-call"
    )
    assert forced.blessed and forced.forced and forced.reason == BlessingReason.FORCED
    assert forced.force_reason == "hotfix approved by on-call"
    assert {f.kind for f in forced.failures} == {"value", "change"}
    as_dict = forced.to_dict()
    assert as_dict["forced"] is True and as_dict["force_reason"] == "hotfix approved by on-call"
    assert isinstance(forced, Blessing)


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_forced_blessing_without_a_reason_is_refused(reason):
    with pytest.raises(ValueError, match="needs a reason"):
        decide_blessing(_slices(0.7), None, AUC, force=True, force_reason=reason)


def test_small_slices_are_flagged_and_not_judged():
    config = EvalConfig(
        slices=(SliceSpec(("country",)),),
        thresholds=(MetricThreshold("accuracy", lower_bound=0.6, slices=("country=*",)),),
        min_slice_size=3,
    )
    out = evaluate_slices({"country": COUNTRY}, Y, P, None, config)
    assert out["country=US"]["too_small"] and out["country=US"]["count"] == 2
    assert not out["country=FR"]["too_small"] and not out["overall"]["too_small"]
    decision = decide_blessing(out, out, config)
    assert decision.blessed  # US (accuracy 0.5) is too small to judge
    assert decision.skipped == (
        {"slice": "country=US", "metric": "accuracy", "reason": "too_small"},
    )


def test_a_named_slice_missing_from_the_evaluation_fails():
    config = EvalConfig(
        thresholds=(MetricThreshold("roc_auc", lower_bound=0.5, slices=("country=IT",)),)
    )
    decision = decide_blessing(_slices(0.9, FR=0.9), _slices(0.9, FR=0.9), config)
    assert not decision.blessed and decision.failures[0].kind == "missing_slice"
