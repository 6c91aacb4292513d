"""Fairness view: how a metric differs across the values of a sensitive feature.

From the single-column slices of an evaluation (``sex=Female``, ``sex=Male``, ...), each
fairness metric is compared across the feature's values: the gap (max - min), the ratio
(min / max, the "four-fifths rule" figure for rates) and which slices hold the extremes.
The largest gap over all features and metrics is singled out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["default_fairness_metrics", "fairness_report"]


def default_fairness_metrics(task: str, num_classes: int) -> tuple[str, ...]:
    """True positive rate (recall), false positive rate and selection rate for binary
    classifiers; accuracy and macro recall for several classes; MAE for regression."""
    if task == "regression":
        return ("mae",)
    if num_classes == 2:
        return ("recall", "false_positive_rate", "positive_rate")
    return ("accuracy", "recall_macro")


def fairness_report(
    slices: Mapping[str, Mapping[str, Any]],
    metrics: Sequence[str],
    features: Sequence[str] = (),
) -> dict[str, Any] | None:
    """Per-feature metric gaps over the single-column slices of ``slices``.

    ``slices`` is an :func:`~conveyor.model.evaluation.evaluate_slices` result; ``features``
    limits the comparison to those sensitive columns (default: every single-column slice).
    Slices marked
    ``too_small`` are listed under ``excluded`` and left out of the gaps. Returns ``None``
    when no feature has two judged values.

    Returns:
        ``{"metrics", "features": {feature: {metric: {"values": {value: x}, "gap", "ratio",
        "max_slice", "min_slice"}}}, "largest": {"feature", "metric", "gap", "ratio",
        "max_slice", "min_slice"}, "excluded": [slice names]}``

    Example:
        >>> s = {"sex=F": {"features": {"sex": "F"}, "metrics": {"recall": 0.5}},
        ...      "sex=M": {"features": {"sex": "M"}, "metrics": {"recall": 0.7}}}
        >>> round(fairness_report(s, ["recall"])["largest"]["gap"], 2)
        0.2
    """
    wanted = set(features)
    values: dict[str, dict[str, dict[str, float]]] = {}
    excluded: list[str] = []
    for name, result in slices.items():
        columns = result.get("features") or {}
        if len(columns) != 1 or (wanted and next(iter(columns)) not in wanted):
            continue
        if result.get("too_small"):
            excluded.append(name)
            continue
        ((feature, value),) = columns.items()
        for metric in metrics:
            number = (result.get("metrics") or {}).get(metric)
            if isinstance(number, int | float) and math.isfinite(number):
                values.setdefault(feature, {}).setdefault(metric, {})[str(value)] = float(number)
    report: dict[str, dict[str, Any]] = {}
    largest: dict[str, Any] | None = None
    for feature, by_metric in values.items():
        for metric, by_value in by_metric.items():
            if len(by_value) < 2:
                continue
            high_value = max(by_value, key=lambda v: by_value[v])
            low_value = min(by_value, key=lambda v: by_value[v])
            high, low = by_value[high_value], by_value[low_value]
            entry = {
                "values": dict(sorted(by_value.items())),
                "gap": high - low,
                "ratio": low / high if high > 0 else None,
                "max_slice": f"{feature}={high_value}",
                "min_slice": f"{feature}={low_value}",
            }
            report.setdefault(feature, {})[metric] = entry
            if largest is None or entry["gap"] > largest["gap"]:
                largest = {"feature": feature, "metric": metric, **entry}
                del largest["values"]
    if largest is None:
        return None
    return {
        "metrics": list(metrics),
        "features": report,
        "largest": largest,
        "excluded": sorted(excluded),
    }
