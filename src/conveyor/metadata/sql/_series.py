"""Metric series reduced for plotting: the lowest and the highest point of each of ``buckets``
equal ranges of x (step, or time logged), so a spike or a dip anywhere survives.

PostgreSQL reduces in SQL (one aggregate per series: ``MIN``/``MAX`` of
``ARRAY[value, step, timestamp]`` grouped by bucket, a single scan); SQLite (in process, no
array aggregate) reads the bare ``(step, value, timestamp)`` tuples and reduces them here with
C-level ``bisect``/``min``/``max`` per bucket. Both pick the same buckets.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

__all__ = ["Point", "bucket_extremes", "pg_bucket_query", "span_of", "stats_query"]

Point = tuple[int, float, float]
"""``(step, value, timestamp)``."""


def stats_query(count: int) -> str:
    """Per name: count, first/last step, min/max value, first/last time (one scan)."""
    from conveyor.metadata.sql._records import marks

    return (
        "SELECT name, COUNT(*), MIN(step), MAX(step), MIN(value), MAX(value), MIN(timestamp), "
        f"MAX(timestamp) FROM metrics WHERE context_id = ? AND name IN ({marks(count)}) "
        "GROUP BY name"
    )


def pg_bucket_query(by_time: bool) -> str:
    """PostgreSQL: the lowest ``[value, step, timestamp]`` and the highest ``[value, -step,
    timestamp]`` of each bucket (ties: the earliest step, as :func:`bucket_extremes` picks).

    Parameters: context id, name, x of the first point, buckets, x span, buckets - 1.
    """
    if by_time:
        bucket = "LEAST(FLOOR((timestamp - ?) * ? / ?)::bigint, ?)"
    else:
        bucket = "LEAST(((step - ?) * ?) / ?, ?)"
    return (
        "SELECT MIN(ARRAY[value, step, timestamp]), MAX(ARRAY[value, -step, timestamp]) "
        f"FROM metrics WHERE context_id = ? AND name = ? GROUP BY {bucket}"
    )


def span_of(first: float, last: float, by_time: bool) -> float:
    """The x range the buckets divide (steps: a whole number, one past the last)."""
    if by_time:
        return max(last - first, 1e-9)
    return max(int(last) - int(first) + 1, 1)


def bucket_extremes(points: Sequence[Point], buckets: int, *, by_time: bool) -> list[Point]:
    """The lowest and highest point of each of ``buckets`` equal x ranges of ``points``
    (ordered by x: step, or timestamp ``by_time``), in x order; at most ``2 * buckets``.

    Example:
        >>> pts = [(s, 1.0 if s != 500 else 99.0, 0.0) for s in range(1000)]
        >>> out = bucket_extremes(pts, 4, by_time=False)
        >>> len(out) <= 8, (500, 99.0, 0.0) in out
        (True, True)
    """
    if not points:
        return []
    axis = 2 if by_time else 0
    xs = [p[axis] for p in points]
    values = [p[1] for p in points]
    get = values.__getitem__
    first = xs[0]
    span = span_of(first, xs[-1], by_time)
    keep: list[int] = []
    lo = 0
    for b in range(buckets):
        # the first point of bucket b + 1: x >= first + span * (b + 1) / buckets
        edge = first + span * (b + 1) / buckets
        hi = len(xs) if b == buckets - 1 else bisect_left(xs, edge, lo)
        if hi > lo:
            span_ix = range(lo, hi)
            keep += sorted({min(span_ix, key=get), max(span_ix, key=get)})
        lo = hi
    return [points[i] for i in keep]
