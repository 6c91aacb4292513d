"""Distances between two distributions for drift and skew checks, computed the way TFDV does.

Three comparators (``FeatureComparator`` in the schema):

- :func:`l_infinity` (``infinity_norm``): the largest absolute difference between the two
  categorical distributions, each normalised by its own total. Range [0, 1].
- :func:`normalized_abs_difference`: the largest absolute count difference divided by the
  combined total of both data sets, ``max|x_i - y_i| / sum(x_i + y_i)``. Range [0, 1].
- :func:`jensen_shannon_divergence` over two histograms: both are re-bucketed onto the union of
  their boundaries (values assumed uniform inside a bucket), point buckets and infinite
  buckets are compared as separate masses, NaNs as one more bucket. Logarithms are **base 2**,
  so the result lies in [0, 1]: 0 for identical distributions, 1 for disjoint ones (TFDV's
  convention, so thresholds carry over unchanged). :func:`jensen_shannon_divergence_of_counts`
  is the same measure over categorical counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from conveyor.data.model import Bucket, FeatureStatistics, Histogram

__all__ = [
    "aligned_masses",
    "jensen_shannon_divergence",
    "jensen_shannon_divergence_of_counts",
    "l_infinity",
    "normalized_abs_difference",
    "value_counts",
]


def value_counts(feature: FeatureStatistics) -> dict[str, float]:
    """The categorical counts of a feature (its top values), empty when it has none.

    Example:
        >>> from conveyor.data.model import FeatureType, StringStatistics, ValueCount
        >>> f = FeatureStatistics("c", FeatureType.STRING, 3, 0,
        ...     string=StringStatistics(2, [ValueCount("a", 2), ValueCount("b", 1)]))
        >>> value_counts(f)
        {'a': 2.0, 'b': 1.0}
    """
    if feature.string is None:
        return {}
    out: dict[str, float] = {}
    for vc in feature.string.top_values:
        out[vc.value] = out.get(vc.value, 0.0) + float(vc.count)
    return out


def _max_difference(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[str, float]:
    best_key, best = "", 0.0
    for key in sorted(set(a) | set(b)):
        diff = abs(a.get(key, 0.0) - b.get(key, 0.0))
        if diff > best:
            best_key, best = key, diff
    return best_key, best


def l_infinity(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[str, float]:
    """L-infinity distance of two categorical distributions and the value where it is reached.

    Each side is normalised by its own total, so the sizes of the data sets do not matter.

    Example:
        >>> l_infinity({"a": 3, "b": 1}, {"a": 1, "b": 1})
        ('a', 0.25)
    """
    total_a, total_b = sum(a.values()), sum(b.values())
    if total_a <= 0 or total_b <= 0:
        return "", 0.0 if total_a == total_b else 1.0
    return _max_difference(
        {k: v / total_a for k, v in a.items()}, {k: v / total_b for k, v in b.items()}
    )


def normalized_abs_difference(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[str, float]:
    """``max|a_i - b_i| / sum(a_i + b_i)``: for data sets expected to have similar counts.

    Example:
        >>> normalized_abs_difference({"a": 3, "b": 1}, {"a": 1, "b": 1})
        ('a', 0.3333333333333333)
    """
    total = sum(a.values()) + sum(b.values())
    if total <= 0:
        return "", 0.0
    key, diff = _max_difference(a, b)
    return key, diff / total


def _kl_to_mixture(p: Sequence[float], q: Sequence[float]) -> float:
    result = 0.0
    for pi, qi in zip(p, q, strict=True):
        m = (pi + qi) / 2
        if pi > 0 and m > 0:
            result += pi * math.log2(pi / m)
    return result


def _jsd_of_masses(p: Sequence[float], q: Sequence[float]) -> float:
    total_p, total_q = sum(p), sum(q)
    if total_p <= 0 or total_q <= 0:
        raise ValueError("cannot compare an empty distribution")
    pn = [x / total_p for x in p]
    qn = [x / total_q for x in q]
    value = (_kl_to_mixture(pn, qn) + _kl_to_mixture(qn, pn)) / 2
    return min(max(value, 0.0), 1.0)  # rounding can leave it a hair outside [0, 1]


def jensen_shannon_divergence_of_counts(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Jensen-Shannon divergence (log base 2) of two categorical count maps.

    Example:
        >>> jensen_shannon_divergence_of_counts({"a": 1}, {"b": 5})
        1.0
    """
    keys = sorted(set(a) | set(b))
    return _jsd_of_masses([a.get(k, 0.0) for k in keys], [b.get(k, 0.0) for k in keys])


def _split(histogram: Histogram) -> tuple[list[Bucket], dict[float, float], float]:
    regular: list[Bucket] = []
    points: dict[float, float] = {}
    infinite = 0.0
    for b in histogram.buckets:
        if not (math.isfinite(b.low) and math.isfinite(b.high)):
            infinite += b.count
        elif b.low == b.high:
            points[b.low] = points.get(b.low, 0.0) + b.count
        else:
            regular.append(b)
    return regular, points, infinite


def _rebucket(buckets: Sequence[Bucket], boundaries: Sequence[float]) -> list[float]:
    """Counts on ``boundaries``, spreading each bucket uniformly over the intervals it covers."""
    out = [0.0] * (len(boundaries) - 1)
    for b in buckets:
        width = b.high - b.low
        for i in range(len(out)):
            lo, hi = boundaries[i], boundaries[i + 1]
            overlap = min(hi, b.high) - max(lo, b.low)
            if overlap > 0:
                out[i] += b.count * overlap / width
    return out


def aligned_masses(
    a: Histogram, b: Histogram, *, nan_a: float = 0, nan_b: float = 0
) -> tuple[list[float], list[float]]:
    """The two histograms' counts on common buckets (TFDV's alignment), for the divergence.

    Regular buckets are re-bucketed onto the union of both sets of boundaries, assuming values
    are uniform within a bucket; then come point buckets (``low == high``), infinite buckets
    and NaNs, each as separate masses.

    Example:
        >>> h1 = Histogram("standard", [Bucket(0, 2, 4)])
        >>> h2 = Histogram("standard", [Bucket(0, 1, 1), Bucket(1, 2, 3)])
        >>> aligned_masses(h1, h2)
        ([2.0, 2.0], [1.0, 3.0])
    """
    reg_a, pts_a, inf_a = _split(a)
    reg_b, pts_b, inf_b = _split(b)
    bounds = sorted({x for bk in reg_a + reg_b for x in (bk.low, bk.high)})
    if len(bounds) >= 2:
        mass_a, mass_b = _rebucket(reg_a, bounds), _rebucket(reg_b, bounds)
    else:
        mass_a, mass_b = [], []
    for point in sorted(set(pts_a) | set(pts_b)):
        mass_a.append(pts_a.get(point, 0.0))
        mass_b.append(pts_b.get(point, 0.0))
    # infinite and NaN masses are never considered to overlap the other side's
    for extra_a, extra_b in ((inf_a, 0.0), (0.0, inf_b), (float(nan_a), 0.0), (0.0, float(nan_b))):
        if extra_a or extra_b:
            mass_a.append(extra_a)
            mass_b.append(extra_b)
    return mass_a, mass_b


def jensen_shannon_divergence(
    a: Histogram, b: Histogram, *, nan_a: float = 0, nan_b: float = 0
) -> float:
    """Approximate Jensen-Shannon divergence (log base 2, in [0, 1]) of two histograms.

    Raises:
        ValueError: when either histogram holds no values.

    Example:
        >>> h = Histogram("standard", [Bucket(0, 1, 5), Bucket(1, 2, 5)])
        >>> jensen_shannon_divergence(h, h)
        0.0
        >>> jensen_shannon_divergence(Histogram("standard", [Bucket(0, 1, 5)]),
        ...                           Histogram("standard", [Bucket(2, 3, 5)]))
        1.0
    """
    mass_a, mass_b = aligned_masses(a, b, nan_a=nan_a, nan_b=nan_b)
    return _jsd_of_masses(mass_a, mass_b)
