"""Significance thresholds: a change bound judged on the one-sided bootstrap bound of the
paired differences (candidate minus baseline on the same resamples)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from toy_models import better_and_worse, paired_bootstrap

from conveyor.model.blessing import BlessingReason, ThresholdFailure, decide_blessing
from conveyor.model.bootstrap import Predictions
from conveyor.model.evaluation import EvalConfig, MetricThreshold, evaluate_slices

SIGNIFICANT_AUC = MetricThreshold("roc_auc", change_absolute=0.0, significance=0.05)


def _slices(**values: Any) -> dict[str, dict[str, Any]]:
    """slice name -> {count, metrics, too_small}; values are metric dicts or (count, metrics)."""
    out = {}
    for name, value in values.items():
        count, metrics = value if isinstance(value, tuple) else (1000, value)
        out[name] = {"count": count, "metrics": metrics, "too_small": count < 30}
    return out


def _diffs(mean: float, sd: float, n: int = 200, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, sd, n)


def test_a_significantly_better_candidate_is_blessed():
    config = EvalConfig(thresholds=(SIGNIFICANT_AUC,))
    diffs = _diffs(0.05, 0.01)
    assert np.quantile(diffs, 0.05) > 0  # the premise
    blessing = decide_blessing(
        _slices(overall={"roc_auc": 0.85}),
        _slices(overall={"roc_auc": 0.80}),
        config,
        differences={"overall": {"roc_auc": diffs}},
    )
    assert blessing.blessed is True and blessing.reason == BlessingReason.BLESSED
    assert blessing.failures == () and blessing.has_baseline is True


def test_a_marginally_better_candidate_is_not_significant():
    config = EvalConfig(thresholds=(SIGNIFICANT_AUC,))
    diffs = _diffs(0.001, 0.01)
    candidate = _slices(overall={"roc_auc": 0.801})
    baseline = _slices(overall={"roc_auc": 0.800})
    # without significance the same change passes: it is the statistics that refuse it
    plain = EvalConfig(thresholds=(MetricThreshold("roc_auc", change_absolute=0.0),))
    assert decide_blessing(candidate, baseline, plain).reason == BlessingReason.BLESSED
    blessing = decide_blessing(
        candidate, baseline, config, differences={"overall": {"roc_auc": diffs}}
    )
    assert blessing.blessed is False
    assert blessing.reason == BlessingReason.NOT_BLESSED_THRESHOLDS
    (failure,) = blessing.failures
    assert isinstance(failure, ThresholdFailure)
    assert (failure.slice, failure.metric, failure.kind) == ("overall", "roc_auc", "significance")
    assert failure.value == 0.801 and failure.baseline == 0.800
    assert failure.confidence_bound == pytest.approx(np.quantile(diffs, 0.05))
    assert failure.confidence_bound < 0
    assert "not a significant change" in failure.message and "95%" in failure.message
    assert failure.threshold == SIGNIFICANT_AUC.to_dict()
    assert failure.threshold["significance"] == 0.05
    recorded = blessing.to_dict()["failures"][0]
    assert recorded["kind"] == "significance"
    assert recorded["confidence_bound"] == pytest.approx(np.quantile(diffs, 0.05))


@pytest.mark.parametrize(
    "differences",
    [None, {}, {"overall": {}}, {"overall": {"roc_auc": np.array([])}}, {"other": {"x": [1]}}],
)
def test_missing_differences_say_that_bootstrap_is_needed(differences):
    blessing = decide_blessing(
        _slices(overall={"roc_auc": 0.9}),
        _slices(overall={"roc_auc": 0.8}),
        EvalConfig(thresholds=(SIGNIFICANT_AUC,)),
        differences=differences,
    )
    assert blessing.reason == BlessingReason.NOT_BLESSED_THRESHOLDS
    (failure,) = blessing.failures
    assert failure.kind == "significance" and failure.confidence_bound is None
    assert "needs bootstrap samples" in failure.message
    assert "bootstrap_resamples > 0" in failure.message


def test_the_bound_must_be_strictly_beyond_the_change_bound():
    zeros = {"overall": {"roc_auc": np.zeros(200)}}
    same = _slices(overall={"roc_auc": 0.8})
    refused = decide_blessing(
        same, same, EvalConfig(thresholds=(SIGNIFICANT_AUC,)), differences=zeros
    )
    assert refused.reason == BlessingReason.NOT_BLESSED_THRESHOLDS
    assert refused.failures[0].confidence_bound == 0.0
    # a non-inferiority bound (may drop by at most 0.01) is met by an identical model
    non_inferior = MetricThreshold("roc_auc", change_absolute=-0.01, significance=0.05)
    blessing = decide_blessing(
        same, same, EvalConfig(thresholds=(non_inferior,)), differences=zeros
    )
    assert blessing.reason == BlessingReason.BLESSED


def test_lower_is_better_metrics_use_the_upper_bound():
    threshold = MetricThreshold("log_loss", change_absolute=0.0, significance=0.05)
    assert threshold.direction == "lower_is_better"
    config = EvalConfig(thresholds=(threshold,))
    candidate = _slices(overall={"log_loss": 0.40})
    baseline = _slices(overall={"log_loss": 0.45})
    better = _diffs(-0.05, 0.01, seed=1)
    blessed = decide_blessing(
        candidate, baseline, config, differences={"overall": {"log_loss": better}}
    )
    assert blessed.reason == BlessingReason.BLESSED
    marginal = _diffs(-0.001, 0.01, seed=2)
    refused = decide_blessing(
        candidate, baseline, config, differences={"overall": {"log_loss": marginal}}
    )
    (failure,) = refused.failures
    assert failure.kind == "significance"
    assert failure.confidence_bound == pytest.approx(np.quantile(marginal, 0.95))
    assert "upper confidence bound" in failure.message


def test_relative_change_bounds_divide_by_the_baseline():
    diffs = _diffs(0.05, 0.005, seed=3)  # relative to 0.5: ~ +10%, sd 1%
    candidate = _slices(overall={"accuracy": 0.55})
    baseline = _slices(overall={"accuracy": 0.50})
    differences = {"overall": {"accuracy": diffs}}

    def decide(bound: float):
        threshold = MetricThreshold("accuracy", change_relative=bound, significance=0.05)
        return decide_blessing(
            candidate, baseline, EvalConfig(thresholds=(threshold,)), differences=differences
        )

    assert decide(0.05).reason == BlessingReason.BLESSED
    refused = decide(0.10)
    assert refused.reason == BlessingReason.NOT_BLESSED_THRESHOLDS
    assert refused.failures[0].confidence_bound == pytest.approx(np.quantile(diffs / 0.5, 0.05))
    assert "relative" in refused.failures[0].message


def test_mostly_undefined_differences_fail():
    diffs = _diffs(0.05, 0.01)
    diffs[:150] = np.nan
    blessing = decide_blessing(
        _slices(overall={"roc_auc": 0.9}),
        _slices(overall={"roc_auc": 0.8}),
        EvalConfig(thresholds=(SIGNIFICANT_AUC,)),
        differences={"overall": {"roc_auc": diffs}},
    )
    assert blessing.reason == BlessingReason.NOT_BLESSED_THRESHOLDS
    assert math.isnan(blessing.failures[0].confidence_bound)


def test_slices_are_judged_each_on_their_own_differences():
    threshold = MetricThreshold(
        "roc_auc", change_absolute=0.0, significance=0.05, slices=("country=*",)
    )
    candidate = _slices(
        overall={"roc_auc": 0.85},
        **{
            "country=FR": {"roc_auc": 0.85},
            "country=DE": {"roc_auc": 0.81},
            "country=US": (10, {"roc_auc": 0.5}),  # too small: not judged
            "country=FR&device=ios": {"roc_auc": 0.80},  # a cross: not "country=*"
        },
    )
    baseline = _slices(
        overall={"roc_auc": 0.80},
        **{"country=FR": {"roc_auc": 0.80}, "country=DE": {"roc_auc": 0.80}},
        **{"country=US": (10, {"roc_auc": 0.9}), "country=FR&device=ios": {"roc_auc": 0.85}},
    )
    differences = {
        "country=FR": {"roc_auc": _diffs(0.05, 0.01, seed=4)},
        "country=DE": {"roc_auc": _diffs(0.01, 0.02, seed=5)},
        "country=FR&device=ios": {"roc_auc": _diffs(-0.05, 0.01, seed=6)},
    }
    blessing = decide_blessing(
        candidate, baseline, EvalConfig(thresholds=(threshold,)), differences=differences
    )
    assert blessing.reason == BlessingReason.NOT_BLESSED_THRESHOLDS
    assert [(f.slice, f.kind) for f in blessing.failures] == [("country=DE", "significance")]
    assert {"slice": "country=US", "metric": "roc_auc", "reason": "too_small"} in blessing.skipped
    # "*" judges every slice, crosses included
    every = MetricThreshold("roc_auc", change_absolute=0.0, significance=0.05, slices=("*",))
    everywhere = decide_blessing(
        candidate, baseline, EvalConfig(thresholds=(every,)), differences=differences
    )
    assert sorted(f.slice for f in everywhere.failures) == [
        "country=DE",
        "country=FR&device=ios",
        "overall",  # no differences given for it
    ]


def test_first_run_skips_significance_and_forced_records_its_failure():
    config = EvalConfig(thresholds=(MetricThreshold("roc_auc", lower_bound=0.7), SIGNIFICANT_AUC))
    first = decide_blessing(_slices(overall={"roc_auc": 0.8}), None, config)
    assert first.reason == BlessingReason.FIRST_RUN_VALUE_THRESHOLDS_ONLY and first.blessed
    assert first.skipped == ({"slice": "overall", "metric": "roc_auc", "reason": "no_baseline"},)
    forced = decide_blessing(
        _slices(overall={"roc_auc": 0.801}),
        _slices(overall={"roc_auc": 0.800}),
        config,
        force_reason="hotfix approved by on-call",
        differences={"overall": {"roc_auc": _diffs(0.001, 0.01)}},
    )
    assert forced.reason == BlessingReason.FORCED and forced.blessed and forced.forced
    assert [f.kind for f in forced.failures] == ["significance"]
    assert forced.force_reason == "hotfix approved by on-call"


def test_end_to_end_with_bootstrap_differences():
    truth, better, worse = better_and_worse(seed=6)
    config = EvalConfig(thresholds=(SIGNIFICANT_AUC,))

    def decide(cand: Predictions, base: Predictions):
        def slices(p: Predictions):
            return evaluate_slices({}, truth, p.pred, p.proba, config, task="classification")

        boot = paired_bootstrap(
            truth, cand, base, resamples=config.bootstrap_resamples, seed=config.bootstrap_seed
        )
        return decide_blessing(slices(cand), slices(base), config, differences=boot.differences)

    assert decide(better, worse).reason == BlessingReason.BLESSED
    assert decide(worse, better).reason == BlessingReason.NOT_BLESSED_THRESHOLDS
    itself = decide(better, better)  # a model is never significantly better than itself
    assert itself.reason == BlessingReason.NOT_BLESSED_THRESHOLDS
    assert itself.failures[0].confidence_bound == 0.0


# --------------------------------------------------------------------------- configuration


def test_significance_turns_on_200_bootstrap_resamples():
    assert EvalConfig().bootstrap_resamples == 0
    assert EvalConfig(thresholds=(SIGNIFICANT_AUC,)).bootstrap_resamples == 200
    plain = MetricThreshold("roc_auc", change_absolute=0.0)
    assert EvalConfig(thresholds=(plain,)).bootstrap_resamples == 0
    explicit = EvalConfig(thresholds=(SIGNIFICANT_AUC,), bootstrap_resamples=500)
    assert explicit.bootstrap_resamples == 500
    from_json = EvalConfig.from_dict(
        {"thresholds": [{"metric": "roc_auc", "change_absolute": 0, "significance": 0.05}]}
    )
    assert from_json.bootstrap_resamples == 200
    assert from_json.thresholds[0] == SIGNIFICANT_AUC
    assert from_json.to_dict()["thresholds"][0]["significance"] == 0.05
    assert EvalConfig.from_dict(from_json.to_dict()) == from_json


def test_significance_needs_a_change_bound():
    for kwargs in ({}, {"lower_bound": 0.8}):
        with pytest.raises(ValueError, match="significance applies to a change bound") as info:
            MetricThreshold("roc_auc", significance=0.05, **kwargs)
        assert "change_absolute or change_relative" in str(info.value)
        assert "'roc_auc'" in str(info.value)
    with pytest.raises(ValueError, match="significance applies to a change bound"):
        EvalConfig.from_dict({"thresholds": [{"metric": "f1", "significance": 0.1}]})


@pytest.mark.parametrize("significance", [0.0, 0.5, 0.9, 1.0, -0.05])
def test_significance_out_of_range_is_refused(significance):
    with pytest.raises(ValueError, match=r"significance must be in \(0, 0.5\)") as info:
        MetricThreshold("roc_auc", change_absolute=0.0, significance=significance)
    assert str(significance) in str(info.value)


@pytest.mark.parametrize("significance", [0.001, 0.05, 0.49])
def test_significance_in_range_is_accepted(significance):
    threshold = MetricThreshold("roc_auc", change_relative=0.0, significance=significance)
    assert threshold.significance == significance


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("bootstrap_resamples", -1, "bootstrap_resamples must be >= 0"),
        ("bootstrap_resamples", 10, "too few"),
        ("confidence_level", 1.0, "confidence_level must be in"),
        ("confidence_level", 0.3, "confidence_level must be in"),
    ],
)
def test_bootstrap_settings_are_validated(field, value, message):
    with pytest.raises(ValueError, match=message):
        EvalConfig(**{field: value})
