"""Poisson bootstrap of evaluation metrics: weighted scoring, intervals, paired differences.

The key property: a resample with integer weights ``w`` is the eval data with row ``i``
repeated ``w[i]`` times, so the weighted metrics must equal :func:`compute_metrics` on
``np.repeat(data, w)`` -- for every metric, every task, and both code paths of the rank
curve (mostly tied scores: grouped sums; a few ties: per row with tie corrections).
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np
import pytest
from toy_models import better_and_worse, paired_bootstrap

from conveyor.model.bootstrap import (
    _POISSON,
    BOOTSTRAP_METRICS,
    BootstrapResult,
    Predictions,
    _poisson_weights,
    _score_order,
    _SliceScorer,
    bootstrap_metrics,
    one_sided_bound,
)
from conveyor.model.evaluation import compute_metrics

TOL = 1e-9
ALL = set(BOOTSTRAP_METRICS)


def _binary(n: int, rng: np.random.Generator, scores: str) -> tuple[np.ndarray, Predictions]:
    truth = (rng.random(n) < 0.4).astype(np.int64)
    p1 = np.clip(0.25 + 0.35 * truth + rng.normal(0, 0.25, n), 0.0, 1.0)
    if scores == "tied":
        p1 = np.round(p1, 1)  # 11 distinct values: mostly tied
    else:
        p1 = rng.permutation(rng.random(n) * 0.5 + 0.4 * truth)
        p1[:12] = p1[12:24]  # a few ties, between positives and negatives alike
        p1[30:33] = p1[40]
    proba = np.column_stack([1.0 - p1, p1])
    pred = (p1 > 0.5).astype(np.int64)
    return truth, Predictions(pred, proba)


def _multiclass(n: int, rng: np.random.Generator, scores: str) -> tuple[np.ndarray, Predictions]:
    truth = rng.integers(0, 3, n)
    logits = rng.normal(0, 1.0, (n, 3)) + 1.5 * np.eye(3)[truth]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if scores == "tied":
        proba = np.round(proba, 1)  # rows need not sum to 1 any more; zeros appear
    else:
        proba[:10] = proba[10:20]  # a few tied rows
    return truth, Predictions(np.argmax(proba, axis=1), proba)


def _regression(n: int, rng: np.random.Generator) -> tuple[np.ndarray, Predictions]:
    truth = rng.normal(5.0, 2.0, n)
    truth[:5] = 0.0  # MAPE's epsilon floor
    return truth, Predictions(truth + rng.normal(0, 1.0, n))


def _expected(task: str, truth: np.ndarray, preds: Predictions, k: int) -> dict[str, float]:
    classes = list(range(k)) if task == "classification" else None
    out = compute_metrics(task, truth, preds.pred, preds.proba, classes)
    return {m: v for m, v in out.items() if m in ALL}


def _repeat(truth: np.ndarray, preds: Predictions, w: np.ndarray) -> tuple[Any, Predictions]:
    w = w.astype(np.int64)
    proba = None if preds.proba is None else np.repeat(preds.proba, w, axis=0)
    return np.repeat(truth, w), Predictions(np.repeat(preds.pred, w), proba)


def _assert_same(got: dict[str, float], expected: dict[str, float]) -> None:
    assert set(got) == set(expected)
    for metric, value in expected.items():
        # relative too: MAPE of a zero label is ~1e13 (the epsilon floor)
        assert got[metric] == pytest.approx(value, abs=TOL, rel=1e-12), metric


CASES = [
    ("binary", "tied"),
    ("binary", "few_ties"),
    ("multiclass", "tied"),
    ("multiclass", "few_ties"),
    ("regression", None),
]


def _case(kind: str, scores: str | None, n: int, seed: int):
    rng = np.random.default_rng(seed)
    if kind == "binary":
        return ("classification", 2, *_binary(n, rng, scores or ""))
    if kind == "multiclass":
        return ("classification", 3, *_multiclass(n, rng, scores or ""))
    return ("regression", 0, *_regression(n, rng))


def _curve_paths(scorer: _SliceScorer) -> set[str]:
    curves = [*scorer.curves, *getattr(scorer, "ap_curves", [])]
    return {"grouped" if c.group_starts is not None else "per_row" for c in curves}


@pytest.mark.parametrize(("kind", "scores"), CASES)
def test_all_ones_weights_equal_compute_metrics(kind, scores):
    task, k, truth, preds = _case(kind, scores, 1500, seed=1)
    scorer = _SliceScorer(task, truth, preds, k, ALL)
    if scores is not None:  # the case exercises the code path it is named after
        expected_path = "grouped" if scores == "tied" else "per_row"
        assert _curve_paths(scorer) == {expected_path}
        if scores == "few_ties":
            assert all(c.tied_groups > 0 for c in scorer.curves)  # tie corrections run
    _assert_same(scorer.score(np.ones(len(truth))), _expected(task, truth, preds, k))


@pytest.mark.parametrize(("kind", "scores"), CASES)
@pytest.mark.parametrize("seed", [2, 3])
def test_integer_weights_equal_compute_metrics_on_repeated_rows(kind, scores, seed):
    task, k, truth, preds = _case(kind, scores, 1200, seed=seed)
    scorer = _SliceScorer(task, truth, preds, k, ALL)
    w = np.random.default_rng(seed + 100).integers(0, 4, len(truth)).astype(np.float64)
    assert (w == 0).sum() > 100 and w.max() == 3
    expected = _expected(task, *_repeat(truth, preds, w), k)
    _assert_same(scorer.score(w), expected)


@pytest.mark.parametrize("scores", ["tied", "few_ties"])
def test_presorted_rows_score_like_unsorted_ones(scores):
    # bootstrap_metrics orders a slice's rows by the positive score (no gather in the curve)
    task, k, truth, preds = _case("binary", scores, 800, seed=4)
    order = np.argsort(preds.proba[:, 1], kind="stable")
    sorted_preds = Predictions(preds.pred[order], preds.proba[order])
    scorer = _SliceScorer(task, truth[order], sorted_preds, k, ALL)
    assert scorer.curves[0].order is None
    w = np.random.default_rng(5).integers(0, 3, len(truth)).astype(np.float64)
    expected = _expected(task, *_repeat(truth[order], sorted_preds, w), k)
    _assert_same(scorer.score(w), expected)


def test_heavily_tied_weights_including_whole_tie_groups_at_zero():
    task, k, truth, preds = _case("binary", "tied", 600, seed=6)
    p1 = preds.proba[:, 1]
    w = np.random.default_rng(7).integers(1, 3, len(truth)).astype(np.float64)
    w[np.isin(p1, [0.3, 0.6])] = 0  # drop entire score groups
    scorer = _SliceScorer(task, truth, preds, k, ALL)
    _assert_same(scorer.score(w), _expected(task, *_repeat(truth, preds, w), k))


def test_classifier_without_probabilities_and_a_limited_metric_set():
    rng = np.random.default_rng(8)
    truth = rng.integers(0, 2, 500)
    pred = np.where(rng.random(500) < 0.8, truth, 1 - truth)
    preds = Predictions(pred)
    w = rng.integers(0, 3, 500).astype(np.float64)
    got = _SliceScorer("classification", truth, preds, 2, ALL).score(w)
    _assert_same(got, _expected("classification", *_repeat(truth, preds, w), 2))
    assert "roc_auc" not in got and "log_loss" not in got


def test_zero_total_weight_scores_nothing():
    task, k, truth, preds = _case("binary", "tied", 50, seed=9)
    assert _SliceScorer(task, truth, preds, k, ALL).score(np.zeros(50)) == {}


def test_poisson_lookup_table_has_poisson_one_frequencies():
    values, counts = np.unique(_POISSON, return_counts=True)
    pmf = np.array([math.exp(-1.0) / math.factorial(int(v)) for v in values])
    assert values[0] == 0 and np.all(np.diff(values) == 1)
    assert np.max(np.abs(counts / len(_POISSON) - pmf)) <= 1.0 / len(_POISSON)
    w = _poisson_weights(np.random.default_rng(0), 200_000)
    assert w.mean() == pytest.approx(1.0, abs=0.01) and w.var() == pytest.approx(1.0, abs=0.02)


# --------------------------------------------------------------------------- bootstrap_metrics


def _replay_weights(seed: int, name: str, resamples: int, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
    return [_poisson_weights(rng, n) for _ in range(resamples)]


def test_every_resample_is_compute_metrics_on_repeated_rows_paired_with_the_baseline():
    task, k, truth, cand = _case("binary", "few_ties", 700, seed=10)
    _, _, _, base = _case("binary", "tied", 700, seed=11)
    groups = {"overall": np.arange(700), "half": np.arange(0, 700, 2)}
    result = bootstrap_metrics(
        task, truth, cand, groups, baseline=base, num_classes=2, resamples=5, seed=42
    )
    for name, rows in groups.items():
        ordered = _score_order(task, cand, rows, k)  # weights are drawn in this row order
        for r, w in enumerate(_replay_weights(42, name, 5, len(rows))):
            sub_c = Predictions(cand.pred[ordered], cand.proba[ordered])
            sub_b = Predictions(base.pred[ordered], base.proba[ordered])
            c = _expected(task, *_repeat(truth[ordered], sub_c, w), k)
            b = _expected(task, *_repeat(truth[ordered], sub_b, w), k)
            for metric in ("accuracy", "roc_auc", "pr_auc", "log_loss", "ece", "f1"):
                assert result.samples[name][metric][r] == pytest.approx(c[metric], abs=TOL)
                assert result.differences[name][metric][r] == pytest.approx(
                    c[metric] - b[metric], abs=TOL
                )


def test_intervals_contain_the_point_estimate():
    task, k, truth, preds = _case("binary", "few_ties", 3000, seed=12)
    result = bootstrap_metrics(
        task, truth, preds, {"overall": np.arange(3000)}, num_classes=2, resamples=300, seed=1
    )
    point = _expected(task, truth, preds, k)
    intervals = result.intervals()["overall"]
    # ECE is biased upwards under resampling (an absolute value of noise): not a fair check
    for metric, value in point.items():
        if metric == "ece":
            continue
        low, high = intervals[metric]
        assert low <= value <= high, (metric, low, value, high)
        assert low < high, metric


def test_intervals_are_the_percentiles_of_the_samples():
    task, _, truth, preds = _case("regression", None, 400, seed=13)
    result = bootstrap_metrics(
        task, truth, preds, {"overall": np.arange(400)}, resamples=100, confidence=0.9, seed=3
    )
    assert isinstance(result, BootstrapResult) and result.resamples == 100
    samples = result.samples["overall"]
    assert set(samples) == {"mae", "mse", "rmse", "r2", "mape"}
    assert all(len(v) == 100 for v in samples.values())
    for metric, (low, high) in result.intervals()["overall"].items():
        assert low == pytest.approx(np.quantile(samples[metric], 0.05))
        assert high == pytest.approx(np.quantile(samples[metric], 0.95))
    assert result.differences == {}  # no baseline


def test_a_small_slice_has_a_wider_interval_than_the_overall():
    task, k, truth, preds = _case("binary", "few_ties", 20_000, seed=14)
    groups = {"overall": np.arange(20_000), "small": np.arange(200)}
    result = bootstrap_metrics(task, truth, preds, groups, num_classes=k, resamples=200, seed=0)
    intervals = result.intervals()
    for metric in ("accuracy", "roc_auc", "log_loss"):
        wide = np.diff(intervals["small"][metric])[0]
        narrow = np.diff(intervals["overall"][metric])[0]
        assert wide > 4 * narrow, metric  # ~sqrt(100) = 10 times wider in theory


def test_accuracy_interval_width_matches_the_binomial_standard_error():
    n, p = 2000, 0.8
    rng = np.random.default_rng(15)
    truth = rng.integers(0, 2, n)
    correct = rng.random(n) < p
    pred = np.where(correct, truth, 1 - truth)
    result = bootstrap_metrics(
        "classification",
        truth,
        Predictions(pred),
        {"overall": np.arange(n)},
        num_classes=2,
        metrics=["accuracy"],
        resamples=1000,
        seed=2,
    )
    assert set(result.samples["overall"]) == {"accuracy"}  # limited to the metrics asked for
    low, high = result.intervals()["overall"]["accuracy"]
    expected = 1.96 * math.sqrt(p * (1 - p) / n)
    assert (high - low) / 2 == pytest.approx(expected, rel=0.25)
    assert low < correct.mean() < high


def test_a_seed_is_deterministic_and_another_seed_differs():
    task, k, truth, preds = _case("multiclass", "few_ties", 500, seed=16)
    groups = {"overall": np.arange(500), "a": np.arange(250), "b": np.arange(250, 500)}

    def run(seed: int, workers: int | None = None) -> BootstrapResult:
        return bootstrap_metrics(
            task, truth, preds, groups, num_classes=k, resamples=50, seed=seed, workers=workers
        )

    first, again, threaded, other = run(7), run(7), run(7, workers=2), run(8)
    for name in groups:
        for metric, values in first.samples[name].items():
            assert np.array_equal(values, again.samples[name][metric])
            assert np.array_equal(values, threaded.samples[name][metric])
        assert not np.array_equal(first.samples[name]["accuracy"], other.samples[name]["accuracy"])
    # each slice draws its own stream: the halves do not share weights
    assert not np.array_equal(first.samples["a"]["accuracy"], first.samples["b"]["accuracy"])


def test_paired_differences_of_a_model_against_itself_are_exactly_zero():
    for kind, scores in CASES:
        task, k, truth, preds = _case(kind, scores, 600, seed=17)
        copy = Predictions(preds.pred.copy(), None if preds.proba is None else preds.proba.copy())
        groups = {"overall": np.arange(600), "slice": np.arange(0, 600, 3)}
        result = bootstrap_metrics(
            task, truth, preds, groups, baseline=copy, num_classes=k, resamples=40, seed=5
        )
        for name in groups:
            assert set(result.differences[name]) == set(result.samples[name])
            for metric, diffs in result.differences[name].items():
                assert len(diffs) == 40
                assert np.all(diffs == 0.0), (kind, scores, name, metric)
            for low, high in result.difference_intervals()[name].values():
                assert low == high == 0.0


def test_a_clearly_better_model_has_a_difference_interval_above_zero():
    truth, better, worse = better_and_worse(seed=18)
    diff = paired_bootstrap(truth, better, worse).difference_intervals()["overall"]
    assert diff["roc_auc"][0] > 0 and diff["accuracy"][0] > 0
    assert diff["log_loss"][1] < 0  # lower is better: the whole interval is below zero
    # and a model against a better one: the interval is below zero
    reverse = paired_bootstrap(truth, worse, better)
    assert reverse.difference_intervals()["overall"]["roc_auc"][1] < 0


def test_empty_slices_are_left_out():
    task, k, truth, preds = _case("binary", "tied", 100, seed=19)
    groups = {"overall": np.arange(100), "empty": np.array([], dtype=np.int64)}
    result = bootstrap_metrics(task, truth, preds, groups, num_classes=k, resamples=20)
    assert list(result.samples) == ["overall"]


def test_one_sided_bound():
    samples = np.random.default_rng(20).normal(0.01, 0.02, 1000)
    assert one_sided_bound(samples, 0.05, True) == pytest.approx(np.quantile(samples, 0.05))
    assert one_sided_bound(samples, 0.05, False) == pytest.approx(np.quantile(samples, 0.95))
    with_nan = samples.copy()
    with_nan[:400] = np.nan
    finite = with_nan[np.isfinite(with_nan)]
    assert one_sided_bound(with_nan, 0.1, True) == pytest.approx(np.quantile(finite, 0.1))
    with_nan[:600] = np.nan  # fewer than half finite: no bound
    assert math.isnan(one_sided_bound(with_nan, 0.05, True))


def test_intervals_skip_metrics_that_are_mostly_undefined():
    # 3 positives in 400 rows: many resamples have no positive, so ROC AUC is NaN there
    rng = np.random.default_rng(21)
    truth = np.zeros(400, dtype=np.int64)
    truth[:2] = 1
    p1 = rng.random(400)
    preds = Predictions((p1 > 0.5).astype(np.int64), np.column_stack([1 - p1, p1]))
    result = bootstrap_metrics(
        "classification", truth, preds, {"s": np.arange(400)}, num_classes=2, resamples=200
    )
    auc = result.samples["s"]["roc_auc"]
    nan_share = np.mean(np.isnan(auc))
    assert nan_share > 0.1  # P(no positive drawn) = exp(-2) ~ 0.135
    intervals = result.intervals()["s"]
    assert "accuracy" in intervals
    if nan_share <= 0.5:
        finite = auc[np.isfinite(auc)]
        assert intervals["roc_auc"] == pytest.approx(list(np.quantile(finite, [0.025, 0.975])))


def test_num_classes_defaults_to_every_class_seen():
    rng = np.random.default_rng(22)
    truth = rng.integers(0, 2, 300)  # class 2 never in the truth...
    pred = np.where(rng.random(300) < 0.2, 2, truth)  # ...but predicted
    proba = np.eye(3)[pred] * 0.8 + 0.2 / 3
    groups = {"overall": np.arange(300)}
    explicit = bootstrap_metrics(
        "classification", truth, Predictions(pred, proba), groups, num_classes=3, resamples=20
    )
    inferred = bootstrap_metrics(
        "classification", truth, Predictions(pred, proba), groups, resamples=20
    )
    for metric, values in explicit.samples["overall"].items():
        assert np.array_equal(values, inferred.samples["overall"][metric], equal_nan=True)


def test_adding_a_slice_changes_no_other_interval():
    task, k, truth, preds = _case("binary", "few_ties", 600, seed=23)
    one = {"overall": np.arange(600), "b": np.arange(300, 600)}
    two = {"overall": np.arange(600), "a": np.arange(0, 300), "b": np.arange(300, 600)}
    first = bootstrap_metrics(task, truth, preds, one, num_classes=k, resamples=30, seed=5)
    second = bootstrap_metrics(task, truth, preds, two, num_classes=k, resamples=30, seed=5)
    for name in one:
        assert np.array_equal(first.samples[name]["accuracy"], second.samples[name]["accuracy"])
