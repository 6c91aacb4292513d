"""Scalar metrics of the SQL store: batched inserts and bounded history reads."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from conveyor.errors import NotFoundError
from conveyor.metadata.entities import MetricRecord
from conveyor.metadata.sql._base import SqlStoreBase, utc_now
from conveyor.metadata.sql._db import Conn
from conveyor.metadata.sql._records import marks

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
        wanted = sorted(set(names))
        if not wanted:
            return {}
        order = "timestamp" if by_time else "step"
        query = (
            "SELECT name, step, value, timestamp FROM metrics "
            f"WHERE context_id = ? AND name IN ({marks(len(wanted))}) "
            f"ORDER BY name, {order}, id"
        )
        out: dict[str, list[tuple[int, float, float]]] = {}
        with self._read("read metric points") as conn:
            rows = conn.execute(query, [context_id, *wanted]).fetchall()
        for name, step, value, timestamp in rows:
            series = out.get(name)
            if series is None:
                series = out[name] = []
            series.append((step, value, timestamp))
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
