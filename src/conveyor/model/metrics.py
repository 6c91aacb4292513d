"""Metrics of predictions against the truth: the full set (:func:`compute_metrics`, what the
Evaluator reports) and the trainer's short list (:func:`evaluate`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "CLASSIFICATION_METRICS",
    "LOWER_IS_BETTER_METRICS",
    "REGRESSION_METRICS",
    "compute_metrics",
    "evaluate",
    "main_metric",
]

CLASSIFICATION_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "false_positive_rate",
    "positive_rate",
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier_score",
    "calibration",
    "ece",
    "confusion_matrix",
)
REGRESSION_METRICS = ("mae", "mse", "rmse", "r2", "mape")
LOWER_IS_BETTER_METRICS = frozenset(
    {"log_loss", "brier_score", "ece", "mae", "mse", "rmse", "mape", "false_positive_rate"}
)


def main_metric(task: str, num_classes: int) -> str:
    """The metric a trainer returns: ROC AUC (binary), accuracy (multiclass), RMSE (regression).

    Example:
        >>> main_metric("classification", 2)
        'roc_auc'
    """
    if task == "regression":
        return "rmse"
    return "roc_auc" if num_classes == 2 else "accuracy"


def evaluate(
    task: str, y_true: np.ndarray, prediction: np.ndarray, proba: np.ndarray | None = None
) -> dict[str, float]:
    """Metrics of predictions against the truth (class indices for classification).

    Classification: ``accuracy``, ``log_loss`` and ``roc_auc`` (one-vs-rest for several
    classes) when ``proba`` is given; regression: ``rmse``, ``mae``, ``r2``.

    Raises:
        ValueError: non-finite predictions (training diverged).

    Example:
        >>> evaluate("regression", np.array([1.0, 2.0]), np.array([1.0, 2.0]))["rmse"]
        0.0
    """
    values = proba if proba is not None else prediction
    if np.issubdtype(np.asarray(values).dtype, np.floating) and not np.all(np.isfinite(values)):
        raise ValueError(
            "The model predicts NaN or infinity: training diverged (the loss became NaN). "
            "Lower the learning rate, scale the features, or add regularisation"
        )
    if task == "regression":
        full = compute_metrics(task, y_true, prediction)
        return {"rmse": full["rmse"], "mae": full["mae"], "r2": full.get("r2", 0.0)}
    k = proba.shape[1] if proba is not None else int(max(np.max(y_true), np.max(prediction))) + 1
    full = compute_metrics(task, y_true, prediction, proba, classes=list(range(k)))
    keys = ("accuracy", "log_loss", "roc_auc") if len(np.unique(y_true)) > 1 else ("accuracy",)
    return {key: float(full[key]) for key in keys if key in full}


def _check_finite(values: np.ndarray) -> None:
    if np.issubdtype(values.dtype, np.number) and not np.all(np.isfinite(values)):
        raise ValueError("The model predicts NaN or infinity; metrics cannot be computed")


def compute_metrics(
    task: str,
    y_true: Any,
    y_pred: Any,
    proba: Any = None,
    classes: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Metrics of predictions against the truth.

    Classification (``y_true``/``y_pred`` are labels from ``classes``, ``proba`` has one column
    per class in that order; ``classes`` defaults to the sorted labels seen): ``accuracy``;
    ``precision``/``recall``/``f1`` (of the positive class ``classes[1]`` when binary, macro
    averages otherwise) and their ``_macro`` averages; ``confusion_matrix`` (rows: truth,
    columns: prediction, in ``classes`` order); binary: ``false_positive_rate`` and
    ``positive_rate`` (share predicted positive, for fairness views); with ``proba``:
    ``log_loss``, ``brier_score``, ``ece`` (expected calibration error of the top class, 10
    bins), ``calibration`` (binary: mean predicted positive probability / positive rate),
    and, when the truth holds more than one class, ``roc_auc`` and ``pr_auc`` (average
    precision; one-vs-rest macro for several classes). Regression: ``mae``, ``mse``,
    ``rmse``, ``r2`` (with 2+ examples), ``mape``.

    Example:
        >>> compute_metrics("regression", [1.0, 3.0], [2.0, 3.0])["mae"]
        0.5
    """
    from sklearn import metrics  # type: ignore[import-untyped]

    truth = np.asarray(y_true)
    pred = np.asarray(y_pred)
    if len(truth) != len(pred):
        raise ValueError(f"{len(truth)} labels but {len(pred)} predictions")
    if len(truth) == 0:
        return {}
    _check_finite(pred)
    if task == "regression":
        t, p = truth.astype(float), pred.astype(float)
        mse = float(metrics.mean_squared_error(t, p))
        out: dict[str, Any] = {
            "mae": float(metrics.mean_absolute_error(t, p)),
            "mse": mse,
            "rmse": math.sqrt(mse),
            "mape": float(metrics.mean_absolute_percentage_error(t, p)),
        }
        if len(t) > 1:
            out["r2"] = float(metrics.r2_score(t, p))
        return out
    if task != "classification":
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")

    labels = (
        list(classes) if classes is not None else sorted(set(truth.tolist()) | set(pred.tolist()))
    )
    t_idx = _class_indices(truth, labels)
    p_idx = _class_indices(pred, labels)
    k = len(labels)
    ids = np.arange(k)
    cm = np.bincount(t_idx * k + p_idx, minlength=k * k).reshape(k, k)
    out = {"accuracy": float(np.trace(cm) / len(t_idx))}
    diag, predicted, actual = np.diag(cm), cm.sum(axis=0), cm.sum(axis=1)
    # as scikit-learn's precision/recall/f1 with zero_division=0, from the confusion matrix
    precision = np.divide(diag, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(diag, actual, out=np.zeros(k), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    for name, per_class in (("precision", precision), ("recall", recall), ("f1", f1)):
        out[f"{name}_macro"] = float(per_class.mean())
        out[name] = float(per_class[1]) if k == 2 else out[f"{name}_macro"]
    out["confusion_matrix"] = [[int(x) for x in row] for row in cm]
    if k == 2:
        negatives = int(cm[0].sum())
        out["false_positive_rate"] = float(cm[0, 1] / negatives) if negatives else 0.0
        out["positive_rate"] = float(cm[:, 1].sum() / len(t_idx))
    if proba is None:
        return out

    prob = np.asarray(proba, dtype=float)
    if prob.ndim != 2 or prob.shape != (len(truth), k):
        raise ValueError(f"proba must have shape ({len(truth)}, {k}), got {prob.shape}")
    _check_finite(prob)
    clipped = np.clip(prob, 1e-15, 1.0)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    onehot = np.eye(k)[t_idx]
    out["log_loss"] = float(metrics.log_loss(t_idx, clipped, labels=ids))
    out["brier_score"] = float(np.mean(np.sum((prob - onehot) ** 2, axis=1)))
    out["ece"] = _expected_calibration_error(prob, t_idx)
    if k == 2:
        rate = float(np.mean(t_idx == 1))
        mean_pred = float(np.mean(prob[:, 1]))
        out["calibration"] = mean_pred / rate if rate > 0 else math.inf
    present = np.unique(t_idx)
    if len(present) > 1:
        if k == 2:
            out["roc_auc"] = float(metrics.roc_auc_score(t_idx, prob[:, 1]))
            out["pr_auc"] = float(metrics.average_precision_score(t_idx, prob[:, 1]))
        elif len(present) == k:
            out["roc_auc"] = float(
                metrics.roc_auc_score(t_idx, clipped, multi_class="ovr", labels=ids)
            )
            out["pr_auc"] = float(metrics.average_precision_score(onehot, prob, average="macro"))
    return out


def _class_indices(values: np.ndarray, labels: list[Any]) -> np.ndarray:
    """Index of each value in ``labels``, vectorised over the distinct values."""
    k = len(labels)
    if (
        np.issubdtype(values.dtype, np.integer)
        and labels == list(range(k))
        and (len(values) == 0 or (values.min() >= 0 and values.max() < k))
    ):
        return values.astype(np.int64, copy=False)  # already class indices
    index = {label: i for i, label in enumerate(labels)}
    distinct, inverse = np.unique(values, return_inverse=True)
    try:
        mapped = np.array([index[v] for v in distinct.tolist()], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"Label {exc.args[0]!r} is not one of the classes {labels}") from None
    return mapped[inverse.reshape(-1)] if len(values) else np.zeros(0, dtype=np.int64)


def _expected_calibration_error(prob: np.ndarray, t_idx: np.ndarray, bins: int = 10) -> float:
    confidence = prob.max(axis=1)
    correct = (prob.argmax(axis=1) == t_idx).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)
