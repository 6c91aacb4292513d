"""Evaluation metrics of a trained model on one split (scikit-learn's implementations)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["evaluate", "main_metric"]


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
    from sklearn import metrics  # type: ignore[import-untyped]

    values = proba if proba is not None else prediction
    if np.issubdtype(np.asarray(values).dtype, np.floating) and not np.all(np.isfinite(values)):
        raise ValueError(
            "The model predicts NaN or infinity: training diverged (the loss became NaN). "
            "Lower the learning rate, scale the features, or add regularisation"
        )
    if task == "regression":
        rmse = math.sqrt(float(metrics.mean_squared_error(y_true, prediction)))
        return {
            "rmse": rmse,
            "mae": float(metrics.mean_absolute_error(y_true, prediction)),
            "r2": float(metrics.r2_score(y_true, prediction)) if len(y_true) > 1 else 0.0,
        }
    out = {"accuracy": float(metrics.accuracy_score(y_true, prediction))}
    if proba is not None and len(np.unique(y_true)) > 1:
        labels = np.arange(proba.shape[1])
        clipped = np.clip(proba, 1e-15, 1.0)
        clipped = clipped / clipped.sum(axis=1, keepdims=True)
        out["log_loss"] = float(metrics.log_loss(y_true, clipped, labels=labels))
        if proba.shape[1] == 2:
            out["roc_auc"] = float(metrics.roc_auc_score(y_true, proba[:, 1]))
        elif len(np.unique(y_true)) == proba.shape[1]:
            out["roc_auc"] = float(
                metrics.roc_auc_score(y_true, clipped, multi_class="ovr", labels=labels)
            )
    return out
