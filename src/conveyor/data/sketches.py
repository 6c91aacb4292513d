"""Mergeable per-column states behind the statistics: moments + a log-bucket sketch for numbers,
exact counts (then frequent-items + HLL sketches past a cardinality limit) for strings.

Every state has ``update`` (fold in one chunk of values, vectorised) and ``merge`` (fold in
the state of other rows), so statistics can be computed per shard and combined; ``finish``
turns a state into the JSON-ready model. States pickle (sketches travel as their bytes).
"""

from __future__ import annotations

import math
import re
from typing import Any

import datasketches as ds
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from conveyor.data.model import (
    CDF_EXACT_VALUES,
    FLOAT_PATTERN,
    INT_PATTERN,
    VALUE_COUNTS_LIMIT,
    Bucket,
    FeatureStatistics,
    FeatureType,
    Histogram,
    NumericStatistics,
    StringStatistics,
    ValueCount,
)

__all__ = ["ColumnState", "LogBucketSketch", "NumericState", "StringState"]

QUANTILE_ALPHA = 0.005  # relative value error of quantiles past the exact limit
EXACT_LIMIT = 10_000  # distinct strings counted exactly; past it, sketches
NUMERIC_EXACT_LIMIT = 1_000  # distinct numbers counted exactly; past it, LogBucketSketch
FREQ_LG_MAX = 13  # frequent-items map of 8192 slots (6144 items kept for merging)
HLL_LG_K = 14  # distinct-count relative error about 0.8%
TOP_K = 20
POINT_MASS = 0.005  # a value holding this fraction of a numeric column is kept in its cdf
BUCKETS = 10
QUANTILE_RANKS = [i / 10 for i in range(11)]


class LogBucketSketch:
    """A deterministic, mergeable quantile sketch (DDSketch's log buckets).

    Every finite value falls in bucket ``ceil(log(|x|) / log(gamma))`` of its sign; a
    quantile is the centre of its bucket, within ``alpha`` relative error of the true
    value. Unlike KLL (randomised compaction), the same data always gives the same result,
    whatever the order and the chunking: statistics are artifacts, and a cache key is only
    as stable as the bytes it hashes.
    """

    def __init__(self, alpha: float = QUANTILE_ALPHA) -> None:
        self.gamma = (1 + alpha) / (1 - alpha)
        self._log_gamma = math.log(self.gamma)
        self.positive: dict[int, int] = {}
        self.negative: dict[int, int] = {}
        self.zeros = 0

    def update(self, values: np.ndarray, counts: np.ndarray | None = None) -> None:
        """Add finite values (each ``counts[i]`` times, when given)."""
        weights = np.ones(values.size, np.int64) if counts is None else counts.astype(np.int64)
        zero = values == 0
        self.zeros += int(weights[zero].sum())
        for sign, store in ((1.0, self.positive), (-1.0, self.negative)):
            mask = values * sign > 0
            if not mask.any():
                continue
            idx = np.ceil(np.log(values[mask] * sign) / self._log_gamma).astype(np.int64)
            low = int(idx.min())
            binned = np.bincount(idx - low, weights=weights[mask])
            for offset in np.flatnonzero(binned).tolist():
                key = offset + low
                store[key] = store.get(key, 0) + int(binned[offset])

    def merge(self, other: LogBucketSketch) -> None:
        """Add another sketch's values."""
        for mine, theirs in ((self.positive, other.positive), (self.negative, other.negative)):
            for key, count in theirs.items():
                mine[key] = mine.get(key, 0) + count
        self.zeros += other.zeros

    def _ordered(self) -> tuple[np.ndarray, np.ndarray]:
        """Bucket centres in increasing order, and cumulative counts."""
        g = self.gamma
        neg = sorted(self.negative.items(), reverse=True)
        pos = sorted(self.positive.items())
        centres = [-2 * g**k / (g + 1) for k, _ in neg]
        counts = [c for _, c in neg]
        if self.zeros:
            centres.append(0.0)
            counts.append(self.zeros)
        centres += [2 * g**k / (g + 1) for k, _ in pos]
        counts += [c for _, c in pos]
        return np.asarray(centres, np.float64), np.cumsum(np.asarray(counts, np.float64))

    def quantiles(self, ranks: list[float]) -> list[float]:
        """The value at each rank in [0, 1] (the smallest value whose rank is above it)."""
        centres, cum = self._ordered()
        idx = np.searchsorted(cum, np.asarray(ranks) * cum[-1], side="right")
        return [float(v) for v in centres[np.minimum(idx, len(centres) - 1)]]

    def cdf(self, points: np.ndarray, *, inclusive: bool = False) -> np.ndarray:
        """Fractions of the values below (``inclusive``: at or below) each point."""
        centres, cum = self._ordered()
        idx = np.searchsorted(centres, points, side="right" if inclusive else "left")
        below = np.where(idx > 0, cum[np.maximum(idx - 1, 0)], 0.0)
        return np.asarray(below / cum[-1], dtype=np.float64)


class NumericState:
    """Count, NaN/inf/zero counts, min/max, mean and M2 (Chan's merge), and the distribution:
    exact value counts while there are few distinct values (ages, codes, flags: exact
    quantiles and histograms), then a deterministic :class:`LogBucketSketch`.

    Moments, min, max, quantiles and histograms cover finite values; NaN and +/-inf are
    counted apart (``nan``, ``infinity``).
    """

    def __init__(self) -> None:
        self.nan = 0
        self.infinity = 0
        self.zeros = 0
        self.n = 0  # finite values
        self.mean = 0.0
        self.m2 = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.values: dict[float, int] | None = {}
        self.sketch = LogBucketSketch()

    def update(self, values: pa.Array | pa.ChunkedArray) -> None:
        """Fold in non-null numeric values (any numeric Arrow type)."""
        if len(values) == 0:
            return
        if self.values is not None:
            # Few distinct values: one hashing pass gives every figure, exactly.
            vc = pc.value_counts(values)
            if len(vc) + len(self.values) <= NUMERIC_EXACT_LIMIT:
                keys = np.asarray(vc.field("values").to_numpy(zero_copy_only=False), np.float64)
                counts = vc.field("counts").to_numpy().astype(np.float64)
                finite = np.isfinite(keys)
                if not finite.all():
                    is_nan = np.isnan(keys)
                    self.nan += int(counts[is_nan].sum())
                    self.infinity += int(counts[~finite & ~is_nan].sum())
                    keys, counts = keys[finite], counts[finite]
                if keys.size:
                    n = counts.sum()
                    mean = float((keys * counts).sum() / n)
                    m2 = float((np.square(keys - mean) * counts).sum())
                    self.zeros += int(counts[keys == 0].sum())
                    self._combine(int(n), mean, m2, float(keys.min()), float(keys.max()))
                    self._add_values(keys.tolist(), [int(c) for c in counts])
                return
            self._to_sketch()
        x = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
        finite_mask = np.isfinite(x)
        finite = x if finite_mask.all() else x[finite_mask]
        if finite.size != x.size:
            nan = int(np.isnan(x).sum())
            self.nan += nan
            self.infinity += x.size - finite.size - nan
        if finite.size == 0:
            return
        self.zeros += int(np.count_nonzero(finite == 0))
        mean = float(finite.mean())
        m2 = float(np.square(finite - mean).sum())
        self._combine(int(finite.size), mean, m2, float(finite.min()), float(finite.max()))
        self.sketch.update(finite)

    def _add_values(self, keys: list[float], counts: list[int]) -> None:
        assert self.values is not None
        d = self.values
        for k, c in zip(keys, counts, strict=True):
            d[k] = d.get(k, 0) + c
        if len(d) > NUMERIC_EXACT_LIMIT:
            self._to_sketch()

    def _to_sketch(self) -> None:
        values, self.values = self.values or {}, None
        if values:
            keys = np.fromiter(values, dtype=np.float64, count=len(values))
            counts = np.fromiter(values.values(), dtype=np.int64, count=len(values))
            self.sketch.update(keys, counts)

    def _sorted_values(self) -> tuple[np.ndarray, np.ndarray]:
        assert self.values is not None
        keys = np.fromiter(self.values, dtype=np.float64, count=len(self.values))
        counts = np.fromiter(self.values.values(), dtype=np.float64, count=len(self.values))
        order = np.argsort(keys)
        return keys[order], np.cumsum(counts[order])

    def _quantiles(self) -> list[float]:
        if self.values is None:
            return self.sketch.quantiles(QUANTILE_RANKS)
        keys, cum = self._sorted_values()  # the smallest value whose rank is above r
        idx = np.searchsorted(cum, np.asarray(QUANTILE_RANKS) * self.n, side="right")
        return [float(v) for v in keys[np.minimum(idx, len(keys) - 1)]]

    def _at_or_below(self, points: np.ndarray) -> np.ndarray:
        """Fractions of the values at or below each point."""
        if self.values is None:
            return self.sketch.cdf(points, inclusive=True)
        keys, cum = self._sorted_values()
        idx = np.searchsorted(keys, points, side="right")
        return np.where(idx > 0, cum[np.maximum(idx - 1, 0)], 0.0) / self.n

    def _combine(self, n: int, mean: float, m2: float, lo: float, hi: float) -> None:
        total = self.n + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.n * n / total
        self.n = total
        self.min = min(self.min, lo)
        self.max = max(self.max, hi)

    def merge(self, other: NumericState) -> None:
        """Fold in the state of other rows."""
        self.nan += other.nan
        self.infinity += other.infinity
        self.zeros += other.zeros
        if not other.n:
            return
        self._combine(other.n, other.mean, other.m2, other.min, other.max)
        if self.values is not None and other.values is not None:
            self._add_values(list(other.values), list(other.values.values()))
            return
        if self.values is not None:
            self._to_sketch()
        if other.values is not None:
            keys = np.fromiter(other.values, dtype=np.float64, count=len(other.values))
            counts = np.fromiter(other.values.values(), dtype=np.int64, count=len(other.values))
            self.sketch.update(keys, counts)
        else:
            self.sketch.merge(other.sketch)

    def finish(self) -> NumericStatistics:
        """The JSON-ready statistics."""
        out = NumericStatistics(zeros=self.zeros, nan=self.nan, infinity=self.infinity)
        if not self.n:
            return out
        out.min, out.max, out.mean = self.min, self.max, self.mean
        out.std = math.sqrt(max(self.m2, 0.0) / self.n)  # population std, as TFDV
        q = self._quantiles()
        q[0], q[-1] = self.min, self.max
        out.quantiles = q
        out.histograms = [self._standard_histogram(), self._quantiles_histogram(out.quantiles)]
        out.cdf = self._cdf()
        return out

    def _cdf(self) -> list[list[float]]:
        """Knots ``[x, below, at_or_below]`` of the distribution (see NumericStatistics.cdf)."""
        if self.values is not None:
            keys, cum = self._sorted_values()
        else:
            keys, cum = self.sketch._ordered()  # bucket centres (0 exact), within alpha
        total = float(cum[-1])
        at = cum / total
        below = np.concatenate([[0.0], at[:-1]])
        if len(keys) > CDF_EXACT_VALUES:
            ranks = np.linspace(0.0, 1.0, 101)
            picked = np.searchsorted(cum, ranks * total, side="left")
            heavy = np.flatnonzero(at - below >= POINT_MASS)
            chosen = np.union1d(np.minimum(picked, len(keys) - 1), heavy)
            keys, below, at = keys[chosen], below[chosen], at[chosen]
        return [
            [float(x), round(float(b), 12), round(float(a), 12)]
            for x, b, a in zip(keys, below, at, strict=True)
        ]

    def _standard_histogram(self) -> Histogram:
        lo, hi = self.min, self.max
        if lo == hi:
            return Histogram("standard", [Bucket(lo, hi, float(self.n))])
        edges = np.linspace(lo, hi, BUCKETS + 1)
        # buckets (low, high], the first holding the minimum: TFDV's convention
        cdf = np.concatenate([[0.0], self._at_or_below(edges[1:-1]), [1.0]])
        counts = np.round(np.diff(cdf) * self.n)
        return Histogram(
            "standard",
            [Bucket(float(edges[i]), float(edges[i + 1]), float(c)) for i, c in enumerate(counts)],
        )

    def _quantiles_histogram(self, q: list[float]) -> Histogram:
        per = self.n / BUCKETS
        return Histogram("quantiles", [Bucket(q[i], q[i + 1], per) for i in range(BUCKETS)])


class StringState:
    """Value counts (exact up to ``EXACT_LIMIT`` distinct values, then frequent-items + HLL
    sketches) and UTF-8 length statistics."""

    def __init__(self) -> None:
        self.n = 0
        self.len_sum = 0
        self.len_min: int | None = None
        self.len_max: int | None = None
        # values that do not read as a number / an integer, among those past the exact counts
        # (the exact counts are checked once, at the end or when they turn into sketches)
        self.not_float = 0
        self.not_int = 0
        self.counts: dict[str, int] | None = {}
        self.freq: ds.frequent_strings_sketch | None = None
        self.hll: ds.hll_sketch | None = None

    def update(self, values: pa.Array | pa.ChunkedArray, *, lengths: bool = True) -> None:
        """Fold in non-null values (strings, or anything castable to string)."""
        if len(values) == 0:
            return
        if pa.types.is_dictionary(values.type):
            # CSV categoricals arrive dictionary-encoded: count the codes, decode the few keys
            vc = pc.value_counts(values)
            keys, counts = vc.field("values").dictionary_decode(), vc.field("counts")
        else:
            if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
                values = values.cast(pa.string())
            vc = pc.value_counts(values)
            keys, counts = vc.field("values"), vc.field("counts")
        if not (pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type)):
            keys = keys.cast(pa.string())
        self.n += len(values)
        if lengths:
            key_len = pc.utf8_length(keys)
            self.len_sum += int(pc.sum(pc.multiply(key_len.cast(pa.int64()), counts)).as_py())
            mm = pc.min_max(key_len).as_py()
            self.len_min = mm["min"] if self.len_min is None else min(self.len_min, mm["min"])
            self.len_max = mm["max"] if self.len_max is None else max(self.len_max, mm["max"])
        self._add_counts(keys.to_pylist(), counts.to_pylist())
        if self.counts is None:  # this chunk went to the sketches: count its misfits now
            for attr, pattern in (("not_float", FLOAT_PATTERN), ("not_int", INT_PATTERN)):
                fits = pc.fill_null(pc.match_substring_regex(keys, pattern), False)
                misfit = pc.sum(pc.filter(counts, pc.invert(fits))).as_py()
                setattr(self, attr, getattr(self, attr) + int(misfit or 0))

    def _misfits(self, counts: dict[str, int]) -> tuple[int, int]:
        """(values that are not numbers, values that are not integers) among ``counts``."""
        not_float = sum(c for k, c in counts.items() if not _FLOAT.fullmatch(k))
        not_int = sum(c for k, c in counts.items() if not _INT.fullmatch(k))
        return not_float, not_int

    def _add_counts(self, keys: list[str], counts: list[int]) -> None:
        if self.counts is not None and len(self.counts) + len(keys) > EXACT_LIMIT:
            existing = set(self.counts)
            if len(existing) + sum(1 for k in keys if k not in existing) > EXACT_LIMIT:
                self._to_sketches()
        if self.counts is not None:
            d = self.counts
            for k, c in zip(keys, counts, strict=True):
                d[k] = d.get(k, 0) + c
            return
        assert self.freq is not None and self.hll is not None
        for k in keys:
            self.hll.update(k)
        # Only the most frequent values of a chunk can be among the overall top values: the
        # tail (count-1 IDs and the like) would cost a Python call per row and change nothing.
        order = np.argsort(np.asarray(counts))[::-1][: 1 << FREQ_LG_MAX]
        for i in order:
            self.freq.update(keys[i], counts[i])

    def _to_sketches(self) -> None:
        counts, self.counts = self.counts or {}, None
        not_float, not_int = self._misfits(counts)
        self.not_float += not_float
        self.not_int += not_int
        self.freq = ds.frequent_strings_sketch(FREQ_LG_MAX)
        self.hll = ds.hll_sketch(HLL_LG_K)
        for k, c in counts.items():
            self.freq.update(k, c)
            self.hll.update(k)

    def merge(self, other: StringState) -> None:
        """Fold in the state of other rows."""
        self.n += other.n
        self.len_sum += other.len_sum
        self.not_float += other.not_float
        self.not_int += other.not_int
        for attr, fn in (("len_min", min), ("len_max", max)):
            mine, theirs = getattr(self, attr), getattr(other, attr)
            setattr(
                self, attr, theirs if mine is None else mine if theirs is None else fn(mine, theirs)
            )
        if other.counts is not None:
            self._add_counts(list(other.counts), list(other.counts.values()))
            if self.counts is None:  # they went to the sketches: count their misfits now
                not_float, not_int = self._misfits(other.counts)
                self.not_float += not_float
                self.not_int += not_int
            return
        if self.counts is not None:
            self._to_sketches()
        assert self.freq is not None and self.hll is not None
        assert other.freq is not None and other.hll is not None
        self.freq.merge(other.freq)
        union = ds.hll_union(HLL_LG_K)
        union.update(self.hll)
        union.update(other.hll)
        self.hll = union.get_result()

    @property
    def exact(self) -> bool:
        """Whether the value counts are still exact."""
        return self.counts is not None

    def top(self, k: int = TOP_K) -> list[ValueCount]:
        """The ``k`` most frequent values, ties broken by value."""
        if self.counts is not None:
            items = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
            return [ValueCount(v, float(c)) for v, c in items]
        assert self.freq is not None
        rows = self.freq.get_frequent_items(ds.frequent_items_error_type.NO_FALSE_NEGATIVES)
        rows.sort(key=lambda r: (-r[1], r[0]))
        return [ValueCount(r[0], float(r[1])) for r in rows[:k]]

    def finish(self, lengths: bool = True) -> StringStatistics:
        """The JSON-ready statistics."""
        if self.counts is not None:
            unique = len(self.counts)
        else:
            assert self.hll is not None
            unique = round(self.hll.get_estimate())
        out = StringStatistics(unique=unique, top_values=self.top())
        if self.counts is not None and unique <= VALUE_COUNTS_LIMIT:
            out.value_counts = self.top(unique)
        if lengths and self.n:
            out.avg_length = self.len_sum / self.n
            out.min_length, out.max_length = self.len_min, self.len_max
            exact = self._misfits(self.counts) if self.counts is not None else (0, 0)
            out.not_float, out.not_int = self.not_float + exact[0], self.not_int + exact[1]
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.freq is not None and self.hll is not None:
            state["freq"], state["hll"] = self.freq.serialize(), self.hll.serialize_compact()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if state["freq"] is not None:
            self.freq = ds.frequent_strings_sketch.deserialize(state["freq"])
            self.hll = ds.hll_sketch.deserialize(state["hll"])


_FLOAT = re.compile(FLOAT_PATTERN)
_INT = re.compile(INT_PATTERN)
_NUMERIC = {FeatureType.INT, FeatureType.FLOAT, FeatureType.BOOL, FeatureType.TIMESTAMP}


class ColumnState:
    """The state of one column: its type, present count (and weight), and the typed states.

    ``type`` is None while only nulls were seen (an all-null column takes the type of the
    first part that has values; STRING if none does).
    """

    def __init__(self, name: str, type: FeatureType | None) -> None:
        self.name = name
        self.type = type
        self.count = 0
        self.weighted_count = 0.0
        self.numeric: NumericState | None = None
        self.string: StringState | None = None
        if type is not None:
            self._init_states()

    def _init_states(self) -> None:
        if self.type in _NUMERIC:
            self.numeric = NumericState()
        if self.type in (FeatureType.STRING, FeatureType.BOOL):
            self.string = StringState()

    def update(self, values: pa.ChunkedArray, weights: pa.ChunkedArray | None) -> None:
        """Fold in one chunk of the column, already cast to its logical type (see stats)."""
        present = len(values) - values.null_count
        if present == 0:
            return
        if weights is not None:
            w = weights if values.null_count == 0 else pc.filter(weights, pc.is_valid(values))
            self.weighted_count += float(pc.sum(w).as_py() or 0.0)
        self.count += present
        if self.type is None:
            return
        valid = values if values.null_count == 0 else pc.drop_null(values)
        if self.numeric is not None:
            self.numeric.update(valid)
        if self.string is not None:
            self.string.update(valid, lengths=self.type == FeatureType.STRING)

    def merge(self, other: ColumnState) -> None:
        """Fold in the state of the same column over other rows."""
        if other.type is not None and self.type != other.type:
            if self.type is None and self.count == 0:
                self.type = other.type
                self._init_states()
            elif {self.type, other.type} == {FeatureType.INT, FeatureType.FLOAT}:
                self.type = FeatureType.FLOAT
            else:
                raise ValueError(
                    f"Column {self.name!r} is {self.type} in one part of the data and "
                    f"{other.type} in another. Pass column_types={{{self.name!r}: 'STRING'}} "
                    "(or the type you mean) to read every part the same way"
                )
        self.count += other.count
        self.weighted_count += other.weighted_count
        if self.numeric is not None and other.numeric is not None:
            self.numeric.merge(other.numeric)
        if self.string is not None and other.string is not None:
            self.string.merge(other.string)

    def finish(self, num_rows: int, weighted: bool) -> FeatureStatistics:
        """The JSON-ready statistics of the column in a data set of ``num_rows`` rows."""
        ftype = self.type or FeatureType.STRING
        out = FeatureStatistics(
            name=self.name,
            type=ftype,
            count=self.count,
            missing=num_rows - self.count,
            weighted_count=self.weighted_count if weighted else None,
        )
        if self.numeric is not None:
            out.numeric = self.numeric.finish()
        if self.string is not None:
            out.string = self.string.finish(lengths=ftype == FeatureType.STRING)
        elif self.type is None:
            out.string = StringStatistics()
        return out
