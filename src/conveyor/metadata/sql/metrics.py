"""Scalar metrics of the SQL store: batched inserts and bounded history reads."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from conveyor.errors import NotFoundError
from conveyor.metadata.entities import MetricRecord
from conveyor.metadata.sql._base import SqlStoreBase, utc_now
from conveyor.metadata.sql._db import Conn
from conveyor.metadata.sql._records import marks
from conveyor.metadata.sql._series import (
    bucket_extremes,
    pg_bucket_query,
    span_of,
    stats_query,
)

__all__ = ["MetricsMixin"]

_COLUMNS = "context_id, execution_id, name, value, step, timestamp"
_INSERT = f"INSERT INTO metrics ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"


def _row(record: MetricRecord) -> tuple[Any, ...]:
    """The insert row of a record, validated (a programming error raises ValueError)."""
    name, value = record.name, record.value
    if not isinstance(name, str) or not name:
        raise ValueError(f"A metric name must be a non-empty string, got {name!r}.")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"Metric {name!r} must be a number, got {value!r}.")
    if not math.isfinite(value):
        raise ValueError(f"Metric {name!r} is {value!r}; metric values must be finite numbers.")
    if record.context_id is None and record.execution_id is None:
        raise ValueError(f"Metric {name!r} needs a context_id or an execution_id, got neither.")
    return (
        record.context_id,
        record.execution_id,
        name,
        float(value),
        int(record.step),
        float(record.timestamp),
    )


_LAST_CHUNK = 200
"""Metric names whose last value one query looks up."""

_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class MetricsMixin(SqlStoreBase):
    """``log_metrics`` and ``get_metrics`` of :class:`SqlMetadataStore`."""

    def log_metrics(
        self,
        records: Sequence[MetricRecord],
        *,
        context_properties: tuple[int, Mapping[str, Any]] | None = None,
    ) -> None:
        """Insert metric values in one transaction (one batched statement), and merge
        ``context_properties`` ``(context_id, properties)`` into a context in the same one.

        Raises:
            ValueError: a value is not finite, a name is empty, or a record has neither a
                context nor an execution id (nothing is written).
            NotFoundError: a context or execution id does not exist (nothing is written).

        Example:
            >>> store = SqlMetadataStore("sqlite://")  # doctest: +SKIP
            >>> run = store.put_context("conveyor.PipelineRun", "r")  # doctest: +SKIP
            >>> loss = MetricRecord(run.id, None, "loss", 0.1, 0, 0.0)  # doctest: +SKIP
            >>> store.log_metrics([loss])  # doctest: +SKIP
        """
        rows = [_row(r) for r in records]
        if not rows and context_properties is None:
            return
        with self._write(f"log {len(rows)} metric values") as conn:
            if context_properties is not None:
                self._merge_context_properties(conn, *context_properties)
            if not rows:
                return
            # SQLite: in-process executemany, about 1 us a row; psycopg pipelines the rows
            conn.executemany(_INSERT, rows)

    def get_metrics(
        self,
        *,
        context_id: int | None = None,
        execution_id: int | None = None,
        names: Iterable[str] | None = None,
    ) -> list[MetricRecord]:
        """Metric values matching every given filter, in one query, ordered by name, step and
        insertion order (the history of each metric, ready to plot).

        Example:
            >>> [m.value for m in store.get_metrics(context_id=run.id)]  # doctest: +SKIP
            [0.1]
        """
        where: list[str] = []
        params: list[Any] = []
        if context_id is not None:
            where.append("context_id = ?")
            params.append(context_id)
        if execution_id is not None:
            where.append("execution_id = ?")
            params.append(execution_id)
        if names is not None:
            wanted = sorted(set(names))
            if not wanted:
                return []
            where.append(f"name IN ({marks(len(wanted))})")
            params += wanted
        query = f"SELECT {_COLUMNS} FROM metrics"
        if where:
            query += f" WHERE {' AND '.join(where)}"
        query += " ORDER BY name, step, id"
        with self._read("read metrics") as conn:
            return [MetricRecord(*row) for row in conn.execute(query, params).fetchall()]

    def metric_summaries(self, context_id: int) -> list[dict[str, Any]]:
        """What was logged in a context, one dict per metric name: ``name``, ``count``,
        ``first_step``, ``last_step``, ``last_value`` (the value at the last step, the last one
        logged there), ``min``, ``max`` and ``execution_ids`` (the executions that logged it;
        ``None`` for a tracked run's own values). One aggregate query, then one query of index
        lookups per 200 names, whatever the number of values.

        Example:
            >>> store.metric_summaries(run.id)[0]["last_value"]  # doctest: +SKIP
            0.1
        """
        grouped = (
            "SELECT name, execution_id, COUNT(*), MIN(step), MAX(step), MIN(value), MAX(value) "
            "FROM metrics WHERE context_id = ? GROUP BY name, execution_id"
        )
        with self._read("summarize metrics") as conn:
            rows = conn.execute(grouped, [context_id]).fetchall()
            ends: dict[str, int] = {}
            for name, _, _, _, end, _, _ in rows:
                ends[name] = max(ends.get(name, end), end)
            lasts: dict[str, float] = {}
            items = sorted(ends.items())
            for start in range(0, len(items), _LAST_CHUNK):  # index lookups, not a scan
                chunk = items[start : start + _LAST_CHUNK]
                pairs = " OR ".join(["(name = ? AND step = ?)"] * len(chunk))
                query = (
                    f"SELECT name, value FROM metrics WHERE context_id = ? AND ({pairs}) "
                    "ORDER BY id"
                )
                params = [context_id, *(v for pair in chunk for v in pair)]
                lasts.update(conn.execute(query, params).fetchall())  # the last logged wins
        out: dict[str, dict[str, Any]] = {}
        for name, execution_id, count, first, end, low, high in rows:
            entry = out.setdefault(
                name,
                {"name": name, "count": 0, "first_step": first, "last_step": end,
                 "last_value": lasts.get(name), "min": low, "max": high, "execution_ids": []},
            )  # fmt: skip
            entry["count"] += int(count)
            entry["first_step"] = min(entry["first_step"], first)
            entry["last_step"] = max(entry["last_step"], end)
            entry["min"] = min(entry["min"], low)
            entry["max"] = max(entry["max"], high)
            entry["execution_ids"].append(execution_id)
        for entry in out.values():
            entry["execution_ids"].sort(key=lambda e: (e is not None, e or 0))
        return [out[name] for name in sorted(out)]

    def metric_points(
        self, context_id: int, names: Iterable[str], *, by_time: bool = False
    ) -> dict[str, list[tuple[int, float, float]]]:
        """The points of some metrics of a context as bare ``(step, value, timestamp)`` tuples
        (no record objects: a 100,000-point series in a few tens of milliseconds), one query,
        each series ordered by step (``by_time``: by timestamp), then insertion order. Names
        with no point are left out.

        Example:
            >>> store.metric_points(run.id, ["loss"])["loss"][:1]  # doctest: +SKIP
            [(0, 1.0, 1700000000.0)]
        """
        with self._read("read metric points") as conn:
            return self._points(conn, context_id, sorted(set(names)), by_time)

    def metric_series(
        self, context_id: int, names: Iterable[str], *, max_points: int, by_time: bool = False
    ) -> dict[str, dict[str, Any]]:
        """Some metrics of a context ready to plot: per name ``count`` (points logged), ``min``,
        ``max``, ``first_time`` and ``points`` (``(step, value, timestamp)`` ordered by step, or
        by time ``by_time``): every point when there are at most ``max_points``, else the lowest
        and highest point of each of ``max_points // 2`` equal ranges of x (spikes survive).
        Names with no point are left out. One query, plus one per long series (PostgreSQL
        reduces in SQL; SQLite reads bare tuples and reduces in Python).

        Example:
            >>> series = store.metric_series(run.id, ["loss"], max_points=1000)  # doctest: +SKIP
            >>> series["loss"]["count"], len(series["loss"]["points"])  # doctest: +SKIP
            (100000, 1000)
        """
        wanted = sorted(set(names))
        if not wanted:
            return {}
        buckets = max(1, max_points // 2)
        axis = 2 if by_time else 0
        out: dict[str, dict[str, Any]] = {}
        with self._read("read metric series") as conn:
            if conn.sqlite:  # in process: bare tuples are cheap, a second scan is not
                for name, points in self._points(conn, context_id, wanted, by_time).items():
                    values = [p[1] for p in points]
                    out[name] = {
                        "count": len(points),
                        "min": min(values),
                        "max": max(values),
                        "first_time": min(p[2] for p in points),
                        "points": points
                        if len(points) <= max_points
                        else bucket_extremes(points, buckets, by_time=by_time),
                    }
                return out
            stats = conn.execute(stats_query(len(wanted)), [context_id, *wanted]).fetchall()
            short = []
            for name, count, step0, step1, low, high, time0, time1 in stats:
                out[name] = {"count": int(count), "min": low, "max": high, "first_time": time0}
                if count <= max_points:
                    short.append(name)
                    continue
                first, last = (time0, time1) if by_time else (step0, step1)
                rows = conn.execute(
                    pg_bucket_query(by_time),
                    [context_id, name, first, buckets, span_of(first, last, by_time), buckets - 1],
                ).fetchall()
                kept = {(int(lo[1]), lo[0], lo[2]) for lo, _ in rows}
                kept |= {(-int(hi[1]), hi[0], hi[2]) for _, hi in rows}
                out[name]["points"] = sorted(kept, key=lambda p: (p[axis], p[0]))
            for name, points in self._points(conn, context_id, short, by_time).items():
                out[name]["points"] = points
        return out

    def _points(
        self, conn: Conn, context_id: int, names: Sequence[str], by_time: bool
    ) -> dict[str, list[tuple[int, float, float]]]:
        """One query per name (its rows are the series as they come: no Python per row),
        read in index order (step); by time, sorted here (nearly sorted already: cheap)."""
        query = (
            "SELECT step, value, timestamp FROM metrics WHERE context_id = ? AND name = ? "
            "ORDER BY step, id"
        )
        out: dict[str, list[tuple[int, float, float]]] = {}
        for name in names:
            rows = conn.execute(query, [context_id, name]).fetchall()
            if not rows:
                continue
            if by_time:
                rows.sort(key=itemgetter(2))
            out[name] = rows if isinstance(rows[0], tuple) else [tuple(r) for r in rows]
        return out

    def _merge_context_properties(
        self, conn: Conn, context_id: int, properties: Mapping[str, Any]
    ) -> None:
        if conn.sqlite and all(_SIMPLE_KEY.match(k) for k in properties):
            # One statement: json_set replaces each top-level key in place (no read first).
            paths = ", ".join(f"'$.{k}', json(?)" for k in properties)
            cursor = conn.execute(
                f"UPDATE contexts SET properties = json_set(properties, {paths}), "
                "updated_at = ? WHERE id = ?",
                [
                    *(json.dumps(v) for v in properties.values()),
                    self._records.ts_value(utc_now()),
                    context_id,
                ],
            )
            if cursor.rowcount == 0:
                raise NotFoundError(f"No context with id {context_id!r} in the metadata store.")
            return
        self._merge_into_context(conn, context_id, properties)
