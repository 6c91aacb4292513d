"""Distances for drift and skew, against hand computations (log base 2 for JSD)."""

from __future__ import annotations

import math

import pytest

from conveyor.data.comparators import (
    aligned_masses,
    jensen_shannon_divergence,
    jensen_shannon_divergence_of_counts,
    l_infinity,
    normalized_abs_difference,
)
from conveyor.data.model import Bucket, Histogram


def hist(*buckets: tuple[float, float, float], kind: str = "standard") -> Histogram:
    return Histogram(kind, [Bucket(lo, hi, c) for lo, hi, c in buckets])


def test_l_infinity_normalises_each_side_by_its_own_total():
    # a: 0.75/0.25, b: 0.5/0.5 -> max diff 0.25 at 'a'
    assert l_infinity({"a": 30, "b": 10}, {"a": 1, "b": 1}) == ("a", pytest.approx(0.25))


def test_l_infinity_counts_values_missing_on_one_side():
    assert l_infinity({"a": 1}, {"b": 1})[1] == pytest.approx(1.0)
    assert l_infinity({"a": 2, "b": 2}, {"a": 1, "b": 1}) == ("", 0.0)


def test_normalized_abs_difference_divides_by_the_combined_total():
    # |3-1| = 2 over 3+1+1+1 = 6
    assert normalized_abs_difference({"a": 3, "b": 1}, {"a": 1, "b": 1}) == (
        "a",
        pytest.approx(1 / 3),
    )


def test_jsd_of_identical_histograms_is_zero_and_of_disjoint_ones_is_one():
    h = hist((0, 1, 5), (1, 2, 7))
    assert jensen_shannon_divergence(h, h) == 0.0
    assert jensen_shannon_divergence(hist((0, 1, 5)), hist((2, 3, 9))) == pytest.approx(1.0)


def test_jsd_matches_a_hand_computation():
    # p = (0.5, 0.5), q = (0.9, 0.1), m = (0.7, 0.3)
    p, q = [0.5, 0.5], [0.9, 0.1]
    m = [(a + b) / 2 for a, b in zip(p, q, strict=True)]
    kl = lambda x: sum(xi * math.log2(xi / mi) for xi, mi in zip(x, m, strict=True))  # noqa: E731
    expected = (kl(p) + kl(q)) / 2
    got = jensen_shannon_divergence(hist((0, 1, 50), (1, 2, 50)), hist((0, 1, 90), (1, 2, 10)))
    assert got == pytest.approx(expected)
    assert jensen_shannon_divergence_of_counts({"x": 5, "y": 5}, {"x": 9, "y": 1}) == (
        pytest.approx(expected)
    )


def test_histograms_are_rebucketed_uniformly_onto_common_boundaries():
    a = hist((0, 2, 4))
    b = hist((0, 1, 1), (1, 2, 3))
    assert aligned_masses(a, b) == ([2.0, 2.0], [1.0, 3.0])
    # quantile-style buckets with different edges: union of boundaries 0, 1, 2, 4
    a = hist((0, 2, 10), (2, 4, 10), kind="quantiles")
    b = hist((0, 1, 10), (1, 4, 30), kind="quantiles")
    assert aligned_masses(a, b) == ([5.0, 5.0, 10.0], [10.0, 10.0, 20.0])


def test_point_infinite_and_nan_masses_are_compared_separately():
    a = hist((3, 3, 4), (0, 1, 4), (float("-inf"), 0, 2))
    b = hist((3, 3, 4), (0, 1, 4))
    mass_a, mass_b = aligned_masses(a, b, nan_a=0, nan_b=1)
    assert mass_a == [4.0, 4.0, 2.0, 0.0]
    assert mass_b == [4.0, 4.0, 0.0, 1.0]


def test_jsd_of_an_empty_histogram_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        jensen_shannon_divergence(hist(), hist((0, 1, 1)))
