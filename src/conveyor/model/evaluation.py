"""Model evaluation and blessing: metrics overall and per slice, thresholds, a recorded decision.

An :class:`EvalConfig` declares which metrics to compute, how to slice the eval split
(:class:`SliceSpec`: a column, a cross of columns, or buckets of a numeric column) and the
:class:`MetricThreshold` s a candidate must meet: value bounds (``roc_auc >= 0.8``) and change
bounds against a baseline model (``roc_auc`` may not drop by more than 0.01), on the overall
slice or on the slices a threshold names.

:func:`evaluate_slices` computes the metrics and example counts of every slice;
:func:`decide_blessing` turns the candidate's (and the baseline's) slice metrics into a
:class:`Blessing`. Every call returns a decision with a machine-readable ``reason``:

- ``BLESSED``: every threshold held against a baseline;
- ``NOT_BLESSED_THRESHOLDS``: some threshold failed (``failures`` names slice and metric);
- ``NO_THRESHOLDS_CONFIGURED``: nothing to check; blessed or not by ``no_thresholds_policy``;
- ``FIRST_RUN_VALUE_THRESHOLDS_ONLY``: no baseline yet, value thresholds held, change
  thresholds skipped (``first_run_policy="value_thresholds"``);
- ``FIRST_RUN_BLOCKED``: no baseline yet and ``first_run_policy="block"``;
- ``NOT_BLESSED_SEEN_SPLIT``: the judged split also chose the model (tuning, early
  stopping, a stopping rule) and ``seen_split_policy="refuse"``;
- ``FORCED``: blessed by hand with a reason; the thresholds are still checked and their
  failures recorded.

Slices with fewer than ``min_slice_size`` examples are reported (``too_small``) and not judged.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from conveyor.model.metrics import (
    CLASSIFICATION_METRICS,
    LOWER_IS_BETTER_METRICS,
    REGRESSION_METRICS,
    compute_metrics,
)
from conveyor.model.slicing import SliceGroup, slice_groups

__all__ = [
    "DEFAULT_MIN_SLICE_SIZE",
    "FIRST_RUN_POLICIES",
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "NO_THRESHOLDS_POLICIES",
    "OVERALL",
    "EvalConfig",
    "MetricThreshold",
    "SliceSpec",
    "check_policy",
    "compute_metrics",
    "evaluate_slices",
    "slice_matches",
]

OVERALL = "overall"
HIGHER_IS_BETTER = "higher_is_better"
LOWER_IS_BETTER = "lower_is_better"
DIRECTIONS = (HIGHER_IS_BETTER, LOWER_IS_BETTER)
FIRST_RUN_POLICIES = ("value_thresholds", "block")
NO_THRESHOLDS_POLICIES = ("bless", "block")


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


@dataclass(frozen=True)
class SliceSpec:
    """One way of slicing the eval split.

    ``feature_keys`` gives one slice per value (one key) or per combination of values (several
    keys, a cross); ``buckets`` maps a numeric column to sorted boundaries ``[b0, ..., bk]``
    giving the buckets ``(-inf, b0), [b0, b1), ..., [bk, inf)``, crossed with the keys. An
    empty spec is the overall slice. Slice names read ``"country=FR"``,
    ``"country=FR&device=ios"``, ``"age=[18,30)"``.

    Example:
        >>> SliceSpec.from_dict({"feature_keys": ["country"]}).feature_keys
        ('country',)
    """

    feature_keys: tuple[str, ...] = ()
    buckets: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "feature_keys", tuple(self.feature_keys))
        buckets = {str(k): _floats(v) for k, v in dict(self.buckets).items()}
        for column, bounds in buckets.items():
            if not bounds:
                raise ValueError(f"Slice buckets of {column!r}: give at least one boundary")
            if list(bounds) != sorted(set(bounds)):
                raise ValueError(
                    f"Slice buckets of {column!r}: boundaries must be strictly increasing, "
                    f"got {list(bounds)}"
                )
        overlap = set(buckets) & set(self.feature_keys)
        if overlap:
            raise ValueError(f"Slice columns both keyed and bucketed: {sorted(overlap)}")
        object.__setattr__(self, "buckets", buckets)

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns this spec reads, keys first then bucketed columns."""
        return (*self.feature_keys, *self.buckets)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SliceSpec:
        """Read ``{"feature_keys": [...], "buckets": {column: [boundaries]}}``."""
        unknown = set(data) - {"feature_keys", "buckets"}
        if unknown:
            raise ValueError(f"Unknown slice spec fields: {sorted(unknown)}")
        return cls(tuple(data.get("feature_keys", ())), dict(data.get("buckets", {})))

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON."""
        return {
            "feature_keys": list(self.feature_keys),
            "buckets": {k: list(v) for k, v in self.buckets.items()},
        }


def slice_matches(name: str, pattern: str) -> bool:
    """Whether slice ``name`` is named by ``pattern``: the name itself (bucket names such as
    ``age=[30,45)`` included), ``"*"`` (every slice), or a pattern of the same shape, part by
    part: ``"sex=*"`` matches ``"sex=Female"`` but not ``"sex=Female&race=Black"``.

    Example:
        >>> slice_matches("age=[30,45)", "age=[30,45)"), slice_matches("sex=F&race=B", "sex=*")
        (True, False)
    """
    if pattern in ("*", name):
        return True
    parts, wanted = name.split("&"), pattern.split("&")
    return len(parts) == len(wanted) and all(
        fnmatch.fnmatchcase(part, want) for part, want in zip(parts, wanted, strict=True)
    )


@dataclass(frozen=True)
class MetricThreshold:
    """Bounds a candidate's metric must meet on the slices it names.

    ``lower_bound`` / ``upper_bound`` (inclusive) bound the value. ``change_absolute`` /
    ``change_relative`` bound the change against the baseline (``candidate - baseline``,
    relative: divided by ``|baseline|``): with ``higher_is_better`` the change must be
    ``>=`` the bound (``-0.01``: may drop by at most 0.01; ``+0.01``: must improve by 0.01),
    with ``lower_is_better`` it must be ``<=`` the bound. ``significance`` (e.g. ``0.05``)
    makes the change bound statistical: the one-sided ``1 - significance`` bootstrap bound of
    the paired change (candidate minus baseline on the same resamples) must be strictly
    beyond the bound, so ``change_absolute=0, significance=0.05`` blesses only a significant
    improvement (bootstrap is switched on for it). ``direction`` defaults from the metric
    (losses and errors are lower-is-better). ``slices`` are slice names or ``fnmatch`` patterns
    (``"country=*"``: every slice of the country spec, ``"country=*&device=*"``: every slice of
    that cross, ``"*"``: every slice); default the overall slice.

    Example:
        >>> MetricThreshold("roc_auc", lower_bound=0.8, change_absolute=-0.01).direction
        'higher_is_better'
    """

    metric: str
    lower_bound: float | None = None
    upper_bound: float | None = None
    change_absolute: float | None = None
    change_relative: float | None = None
    direction: str | None = None
    slices: tuple[str, ...] = (OVERALL,)
    significance: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "slices", tuple(self.slices))
        if self.significance is not None:
            if not 0.0 < self.significance < 0.5:
                raise ValueError(
                    f"Threshold on {self.metric!r}: significance must be in (0, 0.5), e.g. "
                    f"0.05, got {self.significance}"
                )
            if not self.has_change:
                raise ValueError(
                    f"Threshold on {self.metric!r}: significance applies to a change bound; "
                    "set change_absolute or change_relative too"
                )
        if not self.slices:
            raise ValueError(f"Threshold on {self.metric!r}: name at least one slice")
        if not (self.has_value or self.has_change):
            raise ValueError(
                f"Threshold on {self.metric!r} sets no bound: give lower_bound, upper_bound, "
                "change_absolute or change_relative"
            )
        if (
            self.lower_bound is not None
            and self.upper_bound is not None
            and self.lower_bound > self.upper_bound
        ):
            raise ValueError(
                f"Threshold on {self.metric!r}: lower_bound {self.lower_bound} > upper_bound "
                f"{self.upper_bound}"
            )
        direction = self.direction
        if direction is None:
            direction = (
                LOWER_IS_BETTER if self.metric in LOWER_IS_BETTER_METRICS else HIGHER_IS_BETTER
            )
        if direction not in DIRECTIONS:
            raise ValueError(
                f"Threshold on {self.metric!r}: direction must be one of {list(DIRECTIONS)}, "
                f"got {direction!r}"
            )
        object.__setattr__(self, "direction", direction)

    @property
    def has_value(self) -> bool:
        """Whether a value bound is set."""
        return self.lower_bound is not None or self.upper_bound is not None

    @property
    def has_change(self) -> bool:
        """Whether a change bound (needs a baseline) is set."""
        return self.change_absolute is not None or self.change_relative is not None

    def applies_to(self, slice_name: str) -> bool:
        """Whether this threshold judges ``slice_name``."""
        return any(slice_matches(slice_name, pattern) for pattern in self.slices)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricThreshold:
        """Read the :meth:`to_dict` form (``slices`` may also be a single string)."""
        names = {
            "metric",
            "lower_bound",
            "upper_bound",
            "change_absolute",
            "change_relative",
            "direction",
            "slices",
            "significance",
        }
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"Unknown threshold fields: {sorted(unknown)}")
        if "metric" not in data:
            raise ValueError("A threshold needs a 'metric'")
        slices = data.get("slices", (OVERALL,))
        if isinstance(slices, str):
            slices = (slices,)

        def number(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        return cls(
            metric=str(data["metric"]),
            lower_bound=number("lower_bound"),
            upper_bound=number("upper_bound"),
            change_absolute=number("change_absolute"),
            change_relative=number("change_relative"),
            direction=data.get("direction"),
            slices=tuple(slices),
            significance=number("significance"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The threshold as plain JSON (unset bounds omitted)."""
        out: dict[str, Any] = {"metric": self.metric}
        for key in (
            "lower_bound",
            "upper_bound",
            "change_absolute",
            "change_relative",
            "significance",
        ):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["direction"] = self.direction
        out["slices"] = list(self.slices)
        return out


DEFAULT_MIN_SLICE_SIZE = 30
"""Slices with fewer eval examples are reported but too small to judge."""


@dataclass(frozen=True)
class EvalConfig:
    """What to compute and what a candidate must meet.

    ``metrics``: names to report (empty: every metric of the task); ``slices``: slice specs
    (the overall slice is always computed); ``thresholds``; ``min_slice_size``: slices with
    fewer examples (default 30) are reported as too small and not judged;
    ``first_run_policy``: without a baseline, ``"value_thresholds"`` checks value thresholds
    only, ``"block"`` refuses; ``no_thresholds_policy``: with no thresholds, ``"bless"`` or
    ``"block"`` (either way the decision is recorded as ``NO_THRESHOLDS_CONFIGURED``).
    ``bootstrap_resamples`` (0: off; 200 when a threshold sets ``significance``),
    ``confidence_level`` and ``bootstrap_seed`` give every metric of every slice a percentile
    confidence interval (Poisson bootstrap). ``fairness_metrics``: the metrics compared across
    the values of each single-column slice (default: recall, false positive rate and positive
    rate for binary classifiers; accuracy and macro recall for several classes; MAE for
    regression);
    ``fairness_features``: the sensitive columns compared (default: every column sliced on
    its own); each needs a single-column slice spec.

    Example:
        >>> config = EvalConfig.from_dict({"thresholds": [{"metric": "f1", "lower_bound": 0.7}]})
        >>> config.thresholds[0].lower_bound
        0.7
    """

    metrics: tuple[str, ...] = ()
    slices: tuple[SliceSpec, ...] = ()
    thresholds: tuple[MetricThreshold, ...] = ()
    min_slice_size: int = DEFAULT_MIN_SLICE_SIZE
    first_run_policy: str = "value_thresholds"
    no_thresholds_policy: str = "bless"
    bootstrap_resamples: int = 0
    confidence_level: float = 0.95
    bootstrap_seed: int = 0
    fairness_metrics: tuple[str, ...] = ()
    fairness_features: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("metrics", "slices", "thresholds", "fairness_metrics", "fairness_features"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.min_slice_size < 1:
            raise ValueError(f"min_slice_size must be >= 1, got {self.min_slice_size}")
        check_policy("first_run_policy", self.first_run_policy, FIRST_RUN_POLICIES)
        check_policy("no_thresholds_policy", self.no_thresholds_policy, NO_THRESHOLDS_POLICIES)
        known = set(CLASSIFICATION_METRICS) | set(REGRESSION_METRICS)
        for field_name in ("metrics", "fairness_metrics"):
            unknown = [m for m in getattr(self, field_name) if m not in known]
            if unknown:
                raise ValueError(f"Unknown {field_name} {unknown}; known: {sorted(known)}")
        for threshold in self.thresholds:
            if threshold.metric not in known:
                close = difflib.get_close_matches(threshold.metric, sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"Threshold on unknown metric {threshold.metric!r}{hint}; known: "
                    f"{sorted(known)}"
                )
            if self.metrics and threshold.metric not in self.metrics:
                raise ValueError(
                    f"Threshold on {threshold.metric!r}, which metrics={list(self.metrics)} "
                    "leaves out: add it to metrics"
                )
        if self.bootstrap_resamples < 0:
            raise ValueError(f"bootstrap_resamples must be >= 0, got {self.bootstrap_resamples}")
        if 0 < self.bootstrap_resamples < 20:
            raise ValueError(
                f"bootstrap_resamples={self.bootstrap_resamples} is too few for an interval; "
                "use 0 (off) or 100 or more (200 is a good default)"
            )
        if not 0.5 <= self.confidence_level < 1.0:
            raise ValueError(
                f"confidence_level must be in [0.5, 1), e.g. 0.95, got {self.confidence_level}"
            )
        single = {s.columns[0] for s in self.slices if len(s.columns) == 1}
        unsliced = [f for f in self.fairness_features if f not in single]
        if unsliced:
            raise ValueError(
                f"fairness_features {unsliced} have no single-column slice; add "
                f"{{'feature_keys': [{unsliced[0]!r}]}} to slices"
            )
        if self.bootstrap_resamples == 0 and any(
            t.significance is not None for t in self.thresholds
        ):
            object.__setattr__(self, "bootstrap_resamples", 200)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalConfig:
        """Read the :meth:`to_dict` form (every field optional).

        Raises:
            ValueError: an unknown field or an invalid value, named.
        """
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(
                f"Unknown eval config fields: {sorted(unknown)}; known: {sorted(names)}"
            )
        kwargs: dict[str, Any] = dict(data)
        kwargs["slices"] = tuple(SliceSpec.from_dict(s) for s in data.get("slices", ()))
        kwargs["thresholds"] = tuple(
            MetricThreshold.from_dict(t) for t in data.get("thresholds", ())
        )
        for key in ("metrics", "fairness_metrics", "fairness_features"):
            kwargs[key] = tuple(data.get(key, ()))
        for key in ("min_slice_size", "bootstrap_resamples", "bootstrap_seed"):
            if key in data:
                kwargs[key] = int(data[key])
        if "confidence_level" in data:
            kwargs["confidence_level"] = float(data["confidence_level"])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The config as plain JSON."""
        return {
            "metrics": list(self.metrics),
            "slices": [s.to_dict() for s in self.slices],
            "thresholds": [t.to_dict() for t in self.thresholds],
            "min_slice_size": self.min_slice_size,
            "first_run_policy": self.first_run_policy,
            "no_thresholds_policy": self.no_thresholds_policy,
            "bootstrap_resamples": self.bootstrap_resamples,
            "confidence_level": self.confidence_level,
            "bootstrap_seed": self.bootstrap_seed,
            "fairness_metrics": list(self.fairness_metrics),
            "fairness_features": list(self.fairness_features),
        }


def check_policy(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")


# --------------------------------------------------------------------------- slices


def _infer_task(y_true: np.ndarray, proba: Any) -> str:
    if proba is not None:
        return "classification"
    return "regression" if np.issubdtype(y_true.dtype, np.floating) else "classification"


def evaluate_slices(
    table: Any,
    y_true: Any,
    y_pred: Any,
    proba: Any,
    config: EvalConfig,
    *,
    task: str | None = None,
    classes: Sequence[Any] | None = None,
    groups: Sequence[SliceGroup] | None = None,
) -> dict[str, dict[str, Any]]:
    """Metrics and example counts overall and per slice of ``config.slices``.

    ``groups`` are the slices' rows when already computed (:func:`slice_groups` of ``table``
    and ``config.slices``): one slicing serves a candidate, its baseline and the bootstrap.

    ``table`` (a pyarrow Table or a mapping column -> values) holds the slice columns, row
    for row with ``y_true``/``y_pred``/``proba``. ``task`` defaults to classification when
    ``proba`` is given or the labels are not floats. Returns, ``"overall"`` first, slice name
    -> ``{"count", "metrics", "too_small", "features"}`` (``features``: column -> value of
    the slice). Metrics are those of :func:`compute_metrics`, limited to ``config.metrics``
    when set; too-small slices (below ``config.min_slice_size``; never the overall slice)
    are reported with their count and metrics but not judged by :func:`decide_blessing`.

    Example:
        >>> out = evaluate_slices({"c": ["a", "b"]}, [1, 0], [1, 1], None,
        ...                       EvalConfig(slices=(SliceSpec(("c",)),)))
        >>> out["c=a"]["metrics"]["accuracy"], out["overall"]["count"]
        (1.0, 2)
    """
    truth = np.asarray(y_true)
    pred = np.asarray(y_pred)
    prob = None if proba is None else np.asarray(proba, dtype=float)
    n = len(truth)
    if len(pred) != n or (prob is not None and len(prob) != n):
        raise ValueError("y_true, y_pred and proba must have one row per example")
    task = task or _infer_task(truth, proba)
    if task == "classification" and classes is None:
        classes = sorted(set(truth.tolist()) | set(pred.tolist()))

    def entry(rows: np.ndarray, features: dict[str, str], overall: bool) -> dict[str, Any]:
        count = len(rows)
        values = compute_metrics(
            task, truth[rows], pred[rows], None if prob is None else prob[rows], classes
        )
        if config.metrics:
            values = {k: v for k, v in values.items() if k in config.metrics}
        return {
            "count": count,
            "metrics": values,
            "too_small": (not overall) and count < config.min_slice_size,
            "features": features,
        }

    out = {OVERALL: entry(np.arange(n), {}, overall=True)}
    for group in groups if groups is not None else slice_groups(table, config.slices, n):
        out[group.name] = entry(group.rows, group.features, overall=False)
    return out
