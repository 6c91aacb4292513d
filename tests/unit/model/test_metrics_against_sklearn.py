"""The hand-written classification metrics agree with independent implementations.

Precision, recall, F1, the confusion matrix and the false positive rate are checked against
scikit-learn; the Brier score against ``brier_score_loss``; the expected calibration error
(scikit-learn has none) against a plain loop written here and against
``sklearn.calibration.calibration_curve``. Inputs are random (several seeds), binary and
multi-class, including classes that never occur in the truth or the prediction.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from conveyor.model.metrics import compute_metrics

SEEDS = range(6)


def _random_case(
    seed: int, k: int, n: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truth, prediction and probabilities; the prediction is the argmax of ``proba`` for
    half the seeds and an independent draw (a model without consistent probabilities) for
    the other half; some seeds leave a class out of the truth."""
    rng = np.random.default_rng(seed)
    n = n or int(rng.integers(20, 400))
    alpha = rng.uniform(0.2, 3.0, size=k)
    proba = rng.dirichlet(alpha, size=n)
    present = k if seed % 3 else max(2, k - 1)  # seed 0, 3: the last class never true
    truth = rng.integers(0, present, size=n)
    # a useful model: the truth is more likely where its probability is high
    sharpen = rng.random(n) < 0.6
    truth = np.where(sharpen, proba.argmax(axis=1), truth)
    pred = rng.integers(0, k, size=n) if seed % 2 else proba.argmax(axis=1)
    return truth, pred, proba


def _ece_loop(proba: np.ndarray, truth: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of the top class, as textbooks define it."""
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == truth
    total = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        inside = (confidence >= low) & ((confidence < high) if b < bins - 1 else True)
        if inside.any():
            gap = abs(correct[inside].mean() - confidence[inside].mean())
            total += inside.sum() / len(truth) * gap
    return total


def _ece_sklearn(proba: np.ndarray, truth: np.ndarray, bins: int = 10) -> float:
    """The same from scikit-learn's reliability curve of the top class (uniform bins)."""
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == truth).astype(int)
    prob_true, prob_pred = calibration_curve(
        correct, confidence, pos_label=1, n_bins=bins, strategy="uniform"
    )
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], confidence), minlength=bins)
    counts = counts[counts > 0]
    return float(np.sum(counts / len(truth) * np.abs(prob_true - prob_pred)))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [2, 3, 5])
def test_precision_recall_f1_and_confusion_matrix_match_scikit_learn(seed: int, k: int) -> None:
    truth, pred, proba = _random_case(seed, k)
    ids = list(range(k))
    out = compute_metrics("classification", truth, pred, proba, classes=ids)
    np.testing.assert_array_equal(
        out["confusion_matrix"], skm.confusion_matrix(truth, pred, labels=ids)
    )
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(truth, pred))
    # micro averages of a single-label problem are the accuracy
    assert out["accuracy"] == pytest.approx(
        skm.f1_score(truth, pred, labels=ids, average="micro", zero_division=0)
    )
    for name, fn in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        macro = fn(truth, pred, labels=ids, average="macro", zero_division=0)
        assert out[f"{name}_macro"] == pytest.approx(macro), name
        if k == 2:
            binary = fn(truth, pred, labels=ids, pos_label=1, average="binary", zero_division=0)
            assert out[name] == pytest.approx(binary), name
        else:
            assert out[name] == pytest.approx(macro), name


@pytest.mark.parametrize("seed", SEEDS)
def test_binary_false_positive_and_positive_rates_match_scikit_learns_confusion_matrix(
    seed: int,
) -> None:
    truth, pred, proba = _random_case(seed, 2)
    out = compute_metrics("classification", truth, pred, proba, classes=[0, 1])
    tn, fp, _fn, tp = skm.confusion_matrix(truth, pred, labels=[0, 1]).ravel()
    assert out["false_positive_rate"] == pytest.approx(fp / (fp + tn) if fp + tn else 0.0)
    assert out["positive_rate"] == pytest.approx((fp + tp) / len(truth))
    # the false positive rate is one minus the recall of the negative class
    if fp + tn:
        assert out["false_positive_rate"] == pytest.approx(
            1 - skm.recall_score(truth, pred, pos_label=0)
        )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [2, 3, 5])
def test_brier_score_matches_scikit_learn_summed_over_the_classes(seed: int, k: int) -> None:
    truth, pred, proba = _random_case(seed, k)
    out = compute_metrics("classification", truth, pred, proba, classes=list(range(k)))
    if k == 2:
        # scikit-learn scores the positive column alone; summed over both classes it doubles
        expected = 2 * skm.brier_score_loss(truth, proba[:, 1], pos_label=1)
    else:
        expected = skm.brier_score_loss(truth, proba, labels=list(range(k)))
    assert out["brier_score"] == pytest.approx(expected)
    onehot = np.eye(k)[truth]
    assert out["brier_score"] == pytest.approx(np.mean(np.sum((proba - onehot) ** 2, axis=1)))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [2, 3, 5])
def test_expected_calibration_error_matches_two_independent_computations(seed: int, k: int) -> None:
    truth, pred, proba = _random_case(seed, k)
    out = compute_metrics("classification", truth, pred, proba, classes=list(range(k)))
    assert out["ece"] == pytest.approx(_ece_loop(proba, truth), abs=1e-12)
    assert out["ece"] == pytest.approx(_ece_sklearn(proba, truth), abs=1e-12)


def test_expected_calibration_error_of_a_perfectly_calibrated_bin_and_of_an_overconfident_one():
    # 10 rows at confidence 0.85 of which 8 or 9 are right; then all wrong at 0.95
    proba = np.tile([0.85, 0.15], (10, 1))
    truth = np.array([0] * 8 + [1] * 2)
    assert compute_metrics("classification", truth, truth * 0, proba, classes=[0, 1])[
        "ece"
    ] == pytest.approx(0.05)
    proba = np.tile([0.05, 0.95], (4, 1))
    truth = np.zeros(4, dtype=int)
    assert compute_metrics("classification", truth, truth + 1, proba, classes=[0, 1])[
        "ece"
    ] == pytest.approx(0.95)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [2, 4])
def test_log_loss_and_ranking_metrics_match_scikit_learn(seed: int, k: int) -> None:
    truth, pred, proba = _random_case(seed, k)
    ids = list(range(k))
    out = compute_metrics("classification", truth, pred, proba, classes=ids)
    assert out["log_loss"] == pytest.approx(skm.log_loss(truth, proba, labels=ids))
    if k == 2:
        assert out["roc_auc"] == pytest.approx(skm.roc_auc_score(truth, proba[:, 1]))
        assert out["pr_auc"] == pytest.approx(skm.average_precision_score(truth, proba[:, 1]))
    elif len(np.unique(truth)) == k:
        assert out["roc_auc"] == pytest.approx(
            skm.roc_auc_score(truth, proba, multi_class="ovr", labels=ids)
        )
    else:  # one-vs-rest is undefined for a class absent from the truth
        assert "roc_auc" not in out


@pytest.mark.parametrize("seed", SEEDS)
def test_string_labels_take_the_second_class_as_positive_like_scikit_learn(seed: int) -> None:
    truth, pred, proba = _random_case(seed, 2)
    names = np.array(["<=50K", ">50K"])
    out = compute_metrics(
        "classification", names[truth], names[pred], proba, classes=["<=50K", ">50K"]
    )
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score)):
        expected = fn(names[truth], names[pred], pos_label=">50K", zero_division=0)
        assert out[name] == pytest.approx(expected)
