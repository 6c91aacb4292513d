"""Jensen-Shannon drift does not flag a clean resample of a spiky, heavy-tailed or constant
column: the comparison keeps point masses where they are and does not spread a bucket's mass
uniformly when the two sides' bucket edges differ."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from conveyor.data.comparators import jensen_shannon_divergence
from conveyor.data.model import (
    Bucket,
    DataSchema,
    FeatureComparator,
    FeatureSchema,
    FeatureType,
    Histogram,
)
from conveyor.data.stats import compute_statistics
from conveyor.data.validate import validate_statistics

ROWS = 20_000


def _column(kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "zero-inflated":  # 95% zeros, the rest near 1870: the maximum differs
        loss = np.where(rng.random(ROWS) < 0.05, rng.normal(1870, 360, ROWS), 0.0)
        return np.clip(loss, 0, 4356).astype(np.int64)
    if kind == "zero-inflated-float":
        return np.where(rng.random(ROWS) < 0.1, rng.lognormal(5, 1, ROWS), 0.0)
    if kind == "heavy-tailed":
        return rng.lognormal(8, 1.5, ROWS)
    if kind == "pareto":
        return rng.pareto(1.2, ROWS)
    if kind == "spike-inside":  # half the rows at 40 (hours per week)
        hours = np.where(rng.random(ROWS) < 0.5, 40, rng.normal(40, 12, ROWS).round())
        return np.clip(hours, 1, 99).astype(np.int64)
    if kind == "constant":
        return np.full(ROWS, 7.0)
    if kind == "normal":
        return rng.normal(0, 1, ROWS)
    raise AssertionError(kind)


KINDS = [
    "zero-inflated",
    "zero-inflated-float",
    "heavy-tailed",
    "pareto",
    "spike-inside",
    "constant",
    "normal",
]


@pytest.mark.parametrize("kind", KINDS)
def test_a_clean_resample_never_flags_at_001(kind: str) -> None:
    schema = DataSchema(
        [FeatureSchema("x", FeatureType.FLOAT, drift_comparator=FeatureComparator(
            jensen_shannon_divergence=0.01))]
    )  # fmt: skip
    for seed in range(4):
        before = _column(kind, np.random.default_rng(seed))
        after = _column(kind, np.random.default_rng(seed + 100))
        previous = compute_statistics(pa.table({"x": before})).datasets[0]
        current = compute_statistics(pa.table({"x": after})).datasets[0]
        found = validate_statistics(current, schema, previous=previous)
        value = found.drift_skew_info[0].drift_measurements[0]["value"]
        assert found.ok, (kind, seed, value)
        assert value < 0.005, (kind, seed, value)


def test_a_real_shift_of_a_spiky_column_still_flags() -> None:
    rng = np.random.default_rng(0)
    before = _column("zero-inflated", rng)
    after = np.where(rng.random(ROWS) < 0.15, rng.normal(1870, 360, ROWS), 0.0).astype(np.int64)
    a = compute_statistics(pa.table({"x": before})).datasets[0].feature("x")
    b = compute_statistics(pa.table({"x": np.clip(after, 0, None)})).datasets[0].feature("x")
    assert a is not None and b is not None and a.numeric and b.numeric
    value = jensen_shannon_divergence(
        a.numeric.histograms[0], b.numeric.histograms[0], cdf_a=a.numeric.cdf,
        cdf_b=b.numeric.cdf,
    )  # fmt: skip
    assert value > 0.01  # 5% -> 15% non-zero rows: flagged at 0.01


def test_constant_columns_compare_as_points() -> None:
    five = Histogram("standard", [Bucket(5, 5, 10)])
    seven = Histogram("standard", [Bucket(7, 7, 10)])
    assert jensen_shannon_divergence(five, five) == 0.0
    assert jensen_shannon_divergence(five, seven) == 1.0
    spread = Histogram("standard", [Bucket(5, 6, 1), Bucket(6, 7, 9)])
    assert 0.0 < jensen_shannon_divergence(five, spread) < 1.0


def _jsd_on_common_bins(x: np.ndarray, y: np.ndarray, n: int = 10) -> float:
    edges = np.linspace(min(x.min(), y.min()), max(x.max(), y.max()), n + 1)

    def masses(v: np.ndarray) -> np.ndarray:  # (low, high] buckets, the first holding low
        idx = np.clip(np.searchsorted(edges, v, side="left") - 1, 0, n - 1)
        return np.bincount(idx, minlength=n) / v.size

    p, q = masses(x), masses(y)
    m = (p + q) / 2
    kl = lambda a: float(np.sum(a[a > 0] * np.log2(a[a > 0] / m[a > 0])))  # noqa: E731
    return (kl(p) + kl(q)) / 2


def test_when_the_range_moves_a_little_the_buckets_keep_their_width() -> None:
    # small samples whose minimum and maximum differ: the divergence is the one on common
    # equal-width buckets, not on the union of both edges (twice as many, twice the noise)
    for seed in range(6):
        x = np.random.default_rng(seed).normal(50, 10, 700).round().astype(np.int64)
        y = np.random.default_rng(seed + 50).normal(50, 10, 700).round().astype(np.int64)
        a = compute_statistics(pa.table({"x": x})).datasets[0].feature("x")
        b = compute_statistics(pa.table({"x": y})).datasets[0].feature("x")
        assert a is not None and b is not None and a.numeric and b.numeric
        ours = jensen_shannon_divergence(
            a.numeric.histograms[0], b.numeric.histograms[0], cdf_a=a.numeric.cdf,
            cdf_b=b.numeric.cdf,
        )  # fmt: skip
        width = max(x.max(), y.max()) - min(x.min(), y.min())
        n = max(round(10 * width / (v.max() - v.min())) for v in (x, y))  # about as wide
        assert ours == pytest.approx(_jsd_on_common_bins(x, y, n), rel=1e-9), seed
