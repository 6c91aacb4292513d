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

import bisect
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import TypeAlias

from conveyor.data.model import FeatureStatistics, Histogram

__all__ = [
    "aligned_masses",
    "jensen_shannon_divergence",
    "jensen_shannon_divergence_of_counts",
    "l_infinity",
    "normalized_abs_difference",
    "value_counts",
]


def value_counts(feature: FeatureStatistics) -> dict[str, float]:
    """The categorical counts of a feature: every value when the statistics have them (up to
    1,000 distinct values), else its top values; empty when it has none.

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
    for vc in feature.string.known_values:
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


MAX_COMMON_BUCKETS = 40  # equal-width buckets when two histograms' edges differ
Knots: TypeAlias = list[tuple[float, float, float]]  # (x, fraction < x, fraction <= x)


def _histogram_knots(histogram: Histogram) -> tuple[Knots, float, float]:
    """Knots of a histogram's distribution function (exact at the bucket edges, linear in
    between; buckets are ``(low, high]``, the first also holds ``low``), its finite total and
    the count of its infinite buckets."""
    finite = [b for b in histogram.buckets if math.isfinite(b.low) and math.isfinite(b.high)]
    infinite = sum(b.count for b in histogram.buckets) - sum(b.count for b in finite)
    total = sum(b.count for b in finite)
    knots: Knots = []
    if total <= 0:
        return knots, total, infinite
    done = 0.0
    for b in sorted(finite, key=lambda b: (b.low, b.high)):
        if b.low == b.high:  # a point bucket: a jump
            knots.append((b.low, done / total, (done + b.count) / total))
        else:
            knots.append((b.low, done / total, done / total))
            knots.append((b.high, (done + b.count) / total, (done + b.count) / total))
        done += b.count
    return knots, total, infinite


def _merge_knots(*sources: Knots) -> Knots:
    """One monotone set of knots: the same x merged (widest jump), then running maxima."""
    by_x: dict[float, tuple[float, float]] = {}
    for knots in sources:
        for x, below, at in knots:
            old = by_x.get(x)
            by_x[x] = (below, at) if old is None else (min(old[0], below), max(old[1], at))
    out: Knots = []
    level = 0.0
    for x in sorted(by_x):
        below, at = by_x[x]
        below = max(below, level)
        at = max(at, below)
        level = at
        out.append((x, below, at))
    return out


def _at_or_below(knots: Knots, x: float) -> float:
    """The fraction of values at or below ``x``: exact at a knot, linear between two."""
    i = bisect.bisect_left(knots, x, key=lambda k: k[0])
    if i < len(knots) and knots[i][0] == x:
        return knots[i][2]
    if i == 0:
        return 0.0
    if i == len(knots):
        return 1.0
    (x0, _, f0), (x1, f1, _) = knots[i - 1], knots[i]
    return f0 + (f1 - f0) * (x - x0) / (x1 - x0)


def _edges(histogram: Histogram) -> set[float]:
    return {
        x
        for b in histogram.buckets
        if math.isfinite(b.low) and math.isfinite(b.high)
        for x in (b.low, b.high)
    }


def _common_edges(a: Histogram, b: Histogram) -> tuple[list[float], bool]:
    """The common bucket edges, and whether the first bucket holds the smallest edge (else it
    is a point of its own: two constants, or minima that differ on the union's edges)."""
    edges_a, edges_b = _edges(a), _edges(b)
    union = sorted(edges_a | edges_b)
    if edges_a == edges_b or a.kind != "standard" or b.kind != "standard":
        return union, min(edges_a, default=None) == min(edges_b, default=None)
    # Equal-width buckets whose edges differ (the minimum or maximum moved a little): buckets
    # of about the same width over both ranges, not the union of both edges, whose twice as
    # many narrower buckets would make sampling noise look like drift.
    lo, hi = union[0], union[-1]
    n = 0
    for edges, h in ((edges_a, a), (edges_b, b)):
        count = sum(1 for x in h.buckets if x.low != x.high)
        if count and max(edges) > min(edges):
            n = max(n, count, round(count * (hi - lo) / (max(edges) - min(edges))))
    if n == 0:
        return union, min(edges_a, default=None) == min(edges_b, default=None)
    n = min(n, MAX_COMMON_BUCKETS)
    return [lo + (hi - lo) * i / n for i in range(n)] + [hi], True


def aligned_masses(
    a: Histogram,
    b: Histogram,
    *,
    nan_a: float = 0,
    nan_b: float = 0,
    cdf_a: Sequence[Sequence[float]] = (),
    cdf_b: Sequence[Sequence[float]] = (),
) -> tuple[list[float], list[float]]:
    """The two sides' counts on common buckets, for the divergence.

    Two histograms with the same edges are compared bucket for bucket (``(low, high]``, the
    first also holding ``low``), as TFDV does. When the edges of two equal-width histograms
    differ, the common buckets are equal-width buckets over both ranges, about as wide as each
    side's (TFDV takes the union of both edges; quantile histograms still do).
    The mass of a side inside a common bucket comes from its distribution function: exact at
    its own histogram's edges and at the knots of ``cdf`` (``NumericStatistics.cdf``: point
    masses such as a column's zeros, percentiles), linear only between knots; without knots,
    values are assumed uniform inside a bucket. So a spike stays where it is, and a long
    tail's mass is not spread over a wide bucket. Infinite buckets and NaNs are separate
    masses, never overlapping.

    Example:
        >>> from conveyor.data.model import Bucket
        >>> h1 = Histogram("standard", [Bucket(0, 2, 4)])
        >>> h2 = Histogram("standard", [Bucket(0, 1, 1), Bucket(1, 2, 3)])
        >>> aligned_masses(h1, h2)
        ([2.0, 2.0], [1.0, 3.0])
    """
    sides = []
    for hist, cdf, nan in ((a, cdf_a, nan_a), (b, cdf_b, nan_b)):
        knots, total, infinite = _histogram_knots(hist)
        own = [(float(x), float(lo), float(hi)) for x, lo, hi in cdf]
        if own and hist.kind != "standard":  # equal-count edges are estimates: the cdf rules
            knots = []
        sides.append((_merge_knots(knots, own), total, infinite, float(nan)))
    edges, same_min = _common_edges(a, b)
    masses: tuple[list[float], list[float]] = ([], [])
    for (knots, total, _, _), out in zip(sides, masses, strict=True):
        if not edges:
            out.append(total)
            continue
        at = [_at_or_below(knots, x) if knots else 1.0 for x in edges]
        out.append(at[0] * total)  # the smallest edge, as a point
        out.extend((hi - lo) * total for lo, hi in itertools.pairwise(at))
        if same_min and len(out) > 1:  # the same minimum: the first bucket holds it
            first = out.pop(0)
            out[0] += first
    mass_a, mass_b = masses
    (_, _, inf_a, nan_a2), (_, _, inf_b, nan_b2) = sides
    for extra_a, extra_b in ((inf_a, 0.0), (0.0, inf_b), (nan_a2, 0.0), (0.0, nan_b2)):
        if extra_a or extra_b:
            mass_a.append(extra_a)
            mass_b.append(extra_b)
    return mass_a, mass_b


def jensen_shannon_divergence(
    a: Histogram,
    b: Histogram,
    *,
    nan_a: float = 0,
    nan_b: float = 0,
    cdf_a: Sequence[Sequence[float]] = (),
    cdf_b: Sequence[Sequence[float]] = (),
) -> float:
    """Approximate Jensen-Shannon divergence (log base 2, in [0, 1]) of two distributions,
    on the common buckets of :func:`aligned_masses`.

    Raises:
        ValueError: when either histogram holds no values.

    Example:
        >>> from conveyor.data.model import Bucket
        >>> h = Histogram("standard", [Bucket(0, 1, 5), Bucket(1, 2, 5)])
        >>> jensen_shannon_divergence(h, h)
        0.0
        >>> jensen_shannon_divergence(Histogram("standard", [Bucket(0, 1, 5)]),
        ...                           Histogram("standard", [Bucket(2, 3, 5)]))
        1.0
    """
    mass_a, mass_b = aligned_masses(a, b, nan_a=nan_a, nan_b=nan_b, cdf_a=cdf_a, cdf_b=cdf_b)
    return _jsd_of_masses(mass_a, mass_b)
