"""The blessing decision: thresholds over evaluated slices, against a baseline, with an
explicit, machine-readable reason every time (see :func:`decide_blessing`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from conveyor.model.bootstrap import one_sided_bound
from conveyor.model.evaluation import (
    FIRST_RUN_POLICIES,
    HIGHER_IS_BETTER,
    NO_THRESHOLDS_POLICIES,
    EvalConfig,
    MetricThreshold,
    check_policy,
    slice_matches,
)

__all__ = [
    "SEEN_SPLIT_POLICIES",
    "Blessing",
    "BlessingReason",
    "ThresholdFailure",
    "decide_blessing",
    "seen_split_warning",
]

SEEN_SPLIT_POLICIES = ("warn", "refuse")
"""When the split a model is judged on also chose it (tuning, early stopping, a loop's
stopping rule): bless on the thresholds with a recorded warning, or refuse to bless."""


class BlessingReason:
    """Machine-readable reasons of a :class:`Blessing`."""

    BLESSED = "BLESSED"
    NOT_BLESSED_THRESHOLDS = "NOT_BLESSED_THRESHOLDS"
    NO_THRESHOLDS_CONFIGURED = "NO_THRESHOLDS_CONFIGURED"
    FIRST_RUN_VALUE_THRESHOLDS_ONLY = "FIRST_RUN_VALUE_THRESHOLDS_ONLY"
    FIRST_RUN_BLOCKED = "FIRST_RUN_BLOCKED"
    NOT_BLESSED_SEEN_SPLIT = "NOT_BLESSED_SEEN_SPLIT"
    FORCED = "FORCED"


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class ThresholdFailure:
    """One threshold a slice failed: which, the value seen, the baseline's value, why."""

    slice: str
    metric: str
    threshold: dict[str, Any]
    value: float | None
    baseline: float | None
    message: str
    kind: str  # "value", "change", "significance", "missing_metric", "missing_slice"
    confidence_bound: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The failure as plain JSON."""
        return {
            "confidence_bound": self.confidence_bound,
            "slice": self.slice,
            "metric": self.metric,
            "threshold": self.threshold,
            "value": self.value,
            "baseline": self.baseline,
            "message": self.message,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class Blessing:
    """The decision on a candidate model, with its machine-readable ``reason``.

    ``failures``: thresholds that failed (also recorded when forced); ``skipped``: slices or
    checks not judged, each ``{"slice", "metric", "reason"}`` (``too_small``,
    ``no_baseline``, ``no_baseline_slice``, ``no_baseline_metric``); ``warnings``: what
    makes the figures less trustworthy, each ``{"kind", "message", ...}`` (``seen_split``:
    the judged split also chose the model).
    """

    blessed: bool
    reason: str
    failures: tuple[ThresholdFailure, ...] = ()
    skipped: tuple[dict[str, Any], ...] = ()
    forced: bool = False
    force_reason: str | None = None
    has_baseline: bool = False
    warnings: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The decision as plain JSON."""
        return {
            "blessed": self.blessed,
            "reason": self.reason,
            "failures": [f.to_dict() for f in self.failures],
            "skipped": [dict(s) for s in self.skipped],
            "forced": self.forced,
            "force_reason": self.force_reason,
            "has_baseline": self.has_baseline,
            "warnings": [dict(w) for w in self.warnings],
        }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return None
    return float(value)


def _check_thresholds(
    candidate: Mapping[str, Mapping[str, Any]],
    baseline: Mapping[str, Mapping[str, Any]] | None,
    thresholds: Sequence[MetricThreshold],
    differences: Mapping[str, Mapping[str, np.ndarray]] | None,
) -> tuple[list[ThresholdFailure], list[dict[str, Any]]]:
    failures: list[ThresholdFailure] = []
    skipped: list[dict[str, Any]] = []
    for threshold in thresholds:
        spec = threshold.to_dict()
        metric = threshold.metric
        matched = [name for name in candidate if threshold.applies_to(name)]
        for pattern in threshold.slices:
            if not any(slice_matches(name, pattern) for name in candidate):
                # a typo or an absent value must not pass silently: nothing was checked
                failures.append(
                    ThresholdFailure(
                        pattern,
                        metric,
                        spec,
                        None,
                        None,
                        f"slice {pattern!r} matches no slice of the evaluation (a missing "
                        "value, or a slice spec not configured); evaluated slices: "
                        f"{sorted(candidate)[:10]}",
                        "missing_slice",
                    )
                )
        for name in matched:
            result = candidate[name]
            if result.get("too_small"):
                skipped.append({"slice": name, "metric": metric, "reason": "too_small"})
                continue
            value = _number(result.get("metrics", {}).get(metric))
            if value is None:
                failures.append(
                    ThresholdFailure(
                        name,
                        metric,
                        spec,
                        None,
                        None,
                        f"{metric} is not available on slice {name!r}",
                        "missing_metric",
                    )
                )
                continue
            if threshold.has_value:
                low, high = threshold.lower_bound, threshold.upper_bound
                if (low is not None and value < low) or (high is not None and value > high):
                    bound = f">= {low}" if low is not None and value < low else f"<= {high}"
                    failures.append(
                        ThresholdFailure(
                            name,
                            metric,
                            spec,
                            value,
                            None,
                            f"{metric} = {value:.6g} on slice {name!r}, required {bound}",
                            "value",
                        )
                    )
            if not threshold.has_change:
                continue
            if baseline is None:
                skipped.append({"slice": name, "metric": metric, "reason": "no_baseline"})
                continue
            base_result = baseline.get(name)
            if base_result is None:
                skipped.append({"slice": name, "metric": metric, "reason": "no_baseline_slice"})
                continue
            base = _number(base_result.get("metrics", {}).get(metric))
            if base is None:
                skipped.append({"slice": name, "metric": metric, "reason": "no_baseline_metric"})
                continue
            if threshold.significance is not None:
                samples = (differences or {}).get(name, {}).get(metric)
                failure = _significance_failure(threshold, name, value, base, spec, samples)
            else:
                failure = _change_failure(threshold, name, value, base, spec)
            if failure is not None:
                failures.append(failure)
    return failures, skipped


def _change_failure(
    threshold: MetricThreshold, name: str, value: float, base: float, spec: dict[str, Any]
) -> ThresholdFailure | None:
    diff = value - base
    higher = threshold.direction == HIGHER_IS_BETTER
    checks: list[tuple[str, float, float]] = []
    if threshold.change_absolute is not None:
        checks.append(("absolute", diff, threshold.change_absolute))
    if threshold.change_relative is not None:
        rel = (
            diff / abs(base) if base != 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
        )
        checks.append(("relative", rel, threshold.change_relative))
    for kind, change, bound in checks:
        ok = change >= bound if higher else change <= bound
        if not ok:
            op = ">=" if higher else "<="
            return ThresholdFailure(
                name,
                threshold.metric,
                spec,
                value,
                base,
                f"{threshold.metric} on slice {name!r} changed by {change:+.6g} ({kind}) from "
                f"baseline {base:.6g} to {value:.6g}, required change {op} {bound:+g} "
                f"({threshold.direction})",
                "change",
            )
    return None


def _significance_failure(
    threshold: MetricThreshold,
    name: str,
    value: float,
    base: float,
    spec: dict[str, Any],
    samples: np.ndarray | None,
) -> ThresholdFailure | None:
    metric = threshold.metric
    assert threshold.significance is not None
    if samples is None or len(samples) == 0:
        return ThresholdFailure(
            name,
            metric,
            spec,
            value,
            base,
            f"{metric} on slice {name!r}: a significance threshold needs bootstrap samples of "
            "the change; evaluate with bootstrap_resamples > 0 and a baseline",
            "significance",
        )
    higher = threshold.direction == HIGHER_IS_BETTER
    level = 1.0 - threshold.significance
    checks: list[tuple[str, np.ndarray, float]] = []
    if threshold.change_absolute is not None:
        checks.append(("absolute", samples, threshold.change_absolute))
    if threshold.change_relative is not None:
        scale = abs(base) if base != 0 else math.nan
        checks.append(("relative", samples / scale, threshold.change_relative))
    for kind, changes, bound in checks:
        limit = one_sided_bound(changes, threshold.significance, higher)
        ok = math.isfinite(limit) and (limit > bound if higher else limit < bound)
        if not ok:
            side = "lower" if higher else "upper"
            op = ">" if higher else "<"
            return ThresholdFailure(
                name,
                metric,
                spec,
                value,
                base,
                f"{metric} on slice {name!r} changed by {value - base:+.6g} from baseline "
                f"{base:.6g}, but the {level:.0%} {side} confidence bound of the {kind} change "
                f"is {limit:+.6g}; required {op} {bound:+g} at significance "
                f"{threshold.significance:g} (not a significant change)",
                "significance",
                confidence_bound=limit,
            )
    return None


def decide_blessing(
    candidate: Mapping[str, Mapping[str, Any]],
    baseline: Mapping[str, Mapping[str, Any]] | None,
    config: EvalConfig,
    *,
    first_run_policy: str | None = None,
    no_thresholds_policy: str | None = None,
    force: bool = False,
    force_reason: str | None = None,
    differences: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    seen_split: Sequence[Mapping[str, Any]] = (),
    seen_split_policy: str = "warn",
) -> Blessing:
    """Decide whether the candidate is blessed; every outcome carries a reason code.

    ``candidate`` / ``baseline`` are :func:`evaluate_slices` results (``baseline`` ``None``:
    first run, no blessed model yet). ``first_run_policy`` / ``no_thresholds_policy``
    override the config's. ``force_reason`` (or ``force=True`` with a reason) blesses
    regardless, recorded as ``FORCED`` with the failures the thresholds still report.
    ``differences`` (slice -> metric -> paired bootstrap samples of candidate minus
    baseline, from :func:`conveyor.model.bootstrap.bootstrap_metrics`) serve thresholds that
    set ``significance``. ``seen_split``: the steps that chose this model on the split it is
    judged on (:func:`seen_split_warning` of each is recorded under ``warnings``); with
    ``seen_split_policy="refuse"`` the model is then not blessed (``NOT_BLESSED_SEEN_SPLIT``)
    unless forced.

    Raises:
        ValueError: forced without a reason, or an unknown policy.

    Example:
        >>> decide_blessing({"overall": {"count": 1, "metrics": {}}}, None, EvalConfig()).reason
        'NO_THRESHOLDS_CONFIGURED'
    """
    first_run = first_run_policy or config.first_run_policy
    no_thresholds = no_thresholds_policy or config.no_thresholds_policy
    check_policy("first_run_policy", first_run, FIRST_RUN_POLICIES)
    check_policy("no_thresholds_policy", no_thresholds, NO_THRESHOLDS_POLICIES)
    check_policy("seen_split_policy", seen_split_policy, SEEN_SPLIT_POLICIES)
    forced = force or force_reason is not None
    if forced and (force_reason is None or not force_reason.strip()):
        raise ValueError("A forced blessing needs a reason: pass force_reason='why'")
    has_baseline = baseline is not None
    thresholds = config.thresholds
    # without a baseline, change bounds are skipped (recorded) and value bounds checked
    failures, skipped = _check_thresholds(candidate, baseline, thresholds, differences)

    def make(blessed: bool, reason: str) -> Blessing:
        return Blessing(
            blessed=blessed,
            reason=reason,
            failures=tuple(failures),
            skipped=tuple(_unique(skipped)),
            forced=forced,
            force_reason=force_reason.strip() if force_reason else None,
            has_baseline=has_baseline,
            warnings=tuple(seen_split_warning(use) for use in seen_split),
        )

    if forced:
        return make(True, BlessingReason.FORCED)
    if seen_split and seen_split_policy == "refuse":
        return make(False, BlessingReason.NOT_BLESSED_SEEN_SPLIT)
    if not thresholds:
        return make(no_thresholds == "bless", BlessingReason.NO_THRESHOLDS_CONFIGURED)
    if baseline is None and first_run == "block":
        return make(False, BlessingReason.FIRST_RUN_BLOCKED)
    if failures:
        return make(False, BlessingReason.NOT_BLESSED_THRESHOLDS)
    if baseline is None:
        return make(True, BlessingReason.FIRST_RUN_VALUE_THRESHOLDS_ONLY)
    return make(True, BlessingReason.BLESSED)


def seen_split_warning(use: Mapping[str, Any]) -> dict[str, Any]:
    """The warning for one step that chose the model on the judged split.

    Example:
        >>> seen_split_warning({"role": "tuning", "task": "tuner", "split": "eval"})["message"][:37]
        "The 'eval' split this model is judged"
    """
    role = str(use.get("role", "selection")).replace("_", " ")
    task = use.get("task", "?")
    split = use.get("split", "?")
    message = (
        f"The {split!r} split this model is judged on also chose it ({role} in step {task!r}"
        + (f", on {use['detail']}" if use.get("detail") else "")
        + "): its metrics are optimistic (selection bias). Tune, stop early and stop loops "
        "on validation data (a part of train, cross-validation, or a split of its own)"
    )
    return {
        "kind": "seen_split",
        "role": use.get("role"),
        "task": task,
        "split": split,
        "execution_id": use.get("execution_id"),
        "message": message,
    }


def _unique(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for item in items:
        key = tuple(sorted(item.items()))
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out
