"""Run search in SQL: ``search_runs`` (filters, sort, page, total) and ``summarize_runs`` (run
counts by experiment, pipeline and state), on the JSON properties of the run contexts.

Everything is evaluated by the database: SQLite's ``json_extract``/``json_type``, PostgreSQL's
``->``/``->>``/``jsonb_typeof`` on the ``json`` column converted to ``jsonb`` once per row.
Parameter and metric names are checked against a safe pattern and then BOUND (SQLite: inside a
quoted JSON path; PostgreSQL: as the key of ``->``), never spliced into the SQL text. Only the
page's rows are decoded in Python.

A search reads every run's JSON (about 30 ms of CPU for 10,000 runs on SQLite), so its ordered
ids are kept and served again while a cheap check (the runs' count and newest ``updated_at``)
says nothing changed, for at most a few seconds: paging, sorting back and the page's refresh
cost that check and the page's rows.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from conveyor.metadata.runs import (
    Predicate,
    RunGroup,
    RunPage,
    RunQuery,
    RunSort,
    check_field_name,
)
from conveyor.metadata.sql._base import SqlStoreBase
from conveyor.metadata.sql._db import Conn
from conveyor.metadata.sql._records import CONTEXT_COLUMNS, marks
from conveyor.metadata.store import CONTEXT_RUN, LIFECYCLE

__all__ = ["RunSearchMixin"]

_RUNS_VERSION = "SELECT COUNT(*), MAX(updated_at) FROM contexts WHERE type_id = ?"
_KEPT_SECONDS = 5.0
"""Seconds a search result may serve later requests, even when the version check agrees."""
_KEPT_ENTRIES = 32
_KEPT_LOCK = threading.Lock()

# top-level run properties a query filters or sorts on, by sort key
_FIXED_NUMBERS = {
    "started_at": "started_at",
    "finished_at": "finished_at",
    "duration": "duration_seconds",
}
_FIXED_TEXTS = {"state": "state", "pipeline": "pipeline"}
_SECTIONS = {"param": "parameters", "metric": "metrics"}


class _Sql:
    """The dialect's expressions over a run's properties (``c``: the run's context row).

    PostgreSQL stores ``json`` text, which every ``->`` parses again, so its rows come from a
    subquery converting the properties to ``jsonb`` once (``OFFSET 0`` keeps the planner from
    inlining the conversion into each use); the operators then read the binary form.
    """

    def __init__(self, sqlite: bool) -> None:
        self.sqlite = sqlite
        self.col = "c.properties" if sqlite else "c.p"

    def source(self, type_id: int) -> tuple[str, list[Any]]:
        """The FROM clause (rows of the run type only) and its bound values."""
        if self.sqlite:
            return "contexts c", []
        names = ", ".join(CONTEXT_COLUMNS)
        return (
            f"(SELECT {names}, properties::jsonb AS p FROM contexts WHERE type_id = ? OFFSET 0) c",
            [type_id],
        )

    # literal paths for fixed keys: SQLite matches them against expression indexes
    def text(self, key: str) -> str:
        if self.sqlite:
            return f"json_extract(c.properties, '$.{key}')"
        return f"(c.p ->> '{key}')"

    def number(self, key: str) -> str:
        if self.sqlite:
            return f"json_extract(c.properties, '$.{key}')"
        kind = f"jsonb_typeof(c.p -> '{key}') = 'number'"
        return f"(CASE WHEN {kind} THEN (c.p ->> '{key}')::float8 END)"

    def nested(self, section: str, name: str, kind: str) -> tuple[str, list[Any]]:
        """``section.name`` as a number, a string or a boolean's text (NULL when of another
        kind), with its bound values."""
        check_field_name(name, section)
        if self.sqlite:
            path = f'$.{section}."{name}"'
            types = {
                "number": "IN ('integer', 'real')",
                "string": "= 'text'",
                "boolean": "IN ('true', 'false')",
            }[kind]
            fn = "json_type" if kind == "boolean" else "json_extract"
            return (
                f"(CASE WHEN json_type(c.properties, ?) {types} THEN {fn}(c.properties, ?) END)",
                [path, path],
            )
        node = f"c.p -> '{section}' -> ?::text"
        value = f"(c.p -> '{section}' ->> ?::text)"
        if kind == "number":
            value = f"{value}::float8"
        return (f"(CASE WHEN jsonb_typeof({node}) = '{kind}' THEN {value} END)", [name, name])

    def predicate(self, section: str, pred: Predicate) -> tuple[str, list[Any]]:
        if isinstance(pred.value, bool):
            expr, params = self.nested(section, pred.name, "boolean")
            return f"{expr} {pred.op} ?", [*params, "true" if pred.value else "false"]
        kind = "string" if isinstance(pred.value, str) else "number"
        expr, params = self.nested(section, pred.name, kind)
        mark = "?" if self.sqlite or kind == "number" else "?::text"
        return f"{expr} {pred.op} {mark}", [*params, pred.value]

    def contains(self, column: str) -> str:
        if self.sqlite:
            return f"instr(lower({column}), ?) > 0"
        return f"strpos(lower({column}), ?) > 0"

    def order(self, sort: RunSort) -> tuple[str, list[Any]]:
        direction = "DESC" if sort.descending else "ASC"
        keys: list[str] = []
        params: list[Any] = []
        kind, sep, name = sort.key.partition(":")
        if sep and kind in _SECTIONS:
            for value_kind in ("number", "string"):
                expr, values = self.nested(_SECTIONS[kind], name, value_kind)
                keys.append(expr)
                params += values
        elif sort.key in _FIXED_NUMBERS:
            keys.append(self.number(_FIXED_NUMBERS[sort.key]))
        elif sort.key in _FIXED_TEXTS:
            keys.append(self.text(_FIXED_TEXTS[sort.key]))
        elif sort.key == "run_id":
            keys.append("c.name")
        ordered = [f"{key} {direction} NULLS LAST" for key in keys]
        return ", ".join([*ordered, f"c.id {direction}"]), params


def _where(sql: _Sql, type_id: int, query: RunQuery) -> tuple[str, list[Any]]:
    clauses = ["c.type_id = ?"]
    params: list[Any] = [type_id]
    for key, value in (("pipeline", query.pipeline), ("experiment", query.experiment)):
        if value is not None:
            clauses.append(f"{sql.text(key)} = ?")
            params.append(value)
    if query.states:
        clauses.append(f"{sql.text('state')} IN ({marks(len(query.states))})")
        params += list(query.states)
    if query.started_after is not None:
        clauses.append(f"{sql.number('started_at')} >= ?")
        params.append(float(query.started_after))
    if query.started_before is not None:
        clauses.append(f"{sql.number('started_at')} < ?")
        params.append(float(query.started_before))
    if query.lifecycle == "active":
        clauses.append(f"{sql.text(LIFECYCLE)} IS NULL")
    elif query.lifecycle != "all":
        clauses.append(f"{sql.text(LIFECYCLE)} = ?")
        params.append(query.lifecycle)
    for section, predicates in (("parameters", query.parameters), ("metrics", query.metrics)):
        for pred in predicates:
            clause, values = sql.predicate(section, pred)
            clauses.append(clause)
            params += values
    if query.text:
        clauses.append(sql.contains("c.name"))
        params.append(query.text.lower())
    return " AND ".join(clauses), params


class RunSearchMixin(SqlStoreBase):
    """``search_runs`` and ``summarize_runs`` of :class:`SqlMetadataStore`."""

    def search_runs(self, query: RunQuery) -> RunPage:
        """One page of the runs matching ``query``, in its order, and how many match.

        The ids of every matching run, in order (ids only: nothing of the runs outside the
        page reaches Python but their id), then the page's rows by id. The ordered ids are
        kept for the next pages while the runs are unchanged (see :meth:`_over_runs`).

        Example:
            >>> store.search_runs(RunQuery(states=("FAILED",), limit=10)).total  # doctest: +SKIP
            3
        """
        sql = _Sql(self._sqlite)
        with self._read("search runs") as conn:
            type_id = self._records.find_type(conn, "context", CONTEXT_RUN)
            if type_id is None:
                return RunPage((), 0)
            source, source_params = sql.source(type_id)
            where, params = _where(sql, type_id, query)
            order, order_params = sql.order(query.sort)
            # One pass: every matching id in order (the database reads each run's JSON once;
            # a separate COUNT would read it all again, a window count makes it materialise
            # the rows). The total is their number, the page a slice.
            ordered = self._over_runs(
                conn,
                type_id,
                f"SELECT c.id FROM {source} WHERE {where} ORDER BY {order}",
                [*source_params, *params, *order_params],
            )
            total = len(ordered)
            ids = [row[0] for row in ordered[query.offset : query.offset + query.limit]]
            rows = (
                conn.execute(
                    f"SELECT {', '.join(CONTEXT_COLUMNS)} FROM contexts "
                    f"WHERE id IN ({marks(len(ids))})",
                    ids,
                ).fetchall()
                if ids
                else []
            )
            by_id = {record.id: record for record in self._records.contexts(conn, rows)}
            records = [by_id[i] for i in ids if i in by_id]  # gone since: left out
            return RunPage(tuple(records), total)

    def _over_runs(self, conn: Conn, type_id: int, sql: str, params: list[Any]) -> tuple[Any, ...]:
        """The rows of ``sql`` (a read of the run contexts), kept while they are unchanged.

        Searching reads every run's JSON; a result is kept for the next pages, refreshes and
        requests while the run contexts are unchanged: their count and newest ``updated_at``
        (a read of the run rows without their JSON, a fraction of the search) are checked on
        every call, and an entry is dropped after :data:`_KEPT_SECONDS` whatever they say.
        """
        version = tuple(conn.execute(_RUNS_VERSION, (type_id,)).fetchone())
        key = (sql, tuple(params))
        now = time.monotonic()
        with _KEPT_LOCK:
            kept: OrderedDict[Any, tuple[Any, float, tuple[Any, ...]]] = self.__dict__.setdefault(
                "_kept_run_results", OrderedDict()
            )
            hit = kept.get(key)
            if hit is not None and hit[0] == version and now - hit[1] < _KEPT_SECONDS:
                kept.move_to_end(key)
                return hit[2]
        rows = tuple(tuple(row) for row in conn.execute(sql, params).fetchall())
        with _KEPT_LOCK:
            kept[key] = (version, now, rows)
            kept.move_to_end(key)
            while len(kept) > _KEPT_ENTRIES:
                kept.popitem(last=False)
        return rows

    def summarize_runs(self, lifecycle: str = "active") -> list[RunGroup]:
        """Run counts grouped by experiment, pipeline and state, with the newest start of
        each group, in one statement (``lifecycle`` as in :class:`RunQuery`)."""
        query = RunQuery(lifecycle=lifecycle)  # type: ignore[arg-type]  # checked there
        sql = _Sql(self._sqlite)
        with self._read("summarize runs") as conn:
            type_id = self._records.find_type(conn, "context", CONTEXT_RUN)
            if type_id is None:
                return []
            source, source_params = sql.source(type_id)
            where, params = _where(sql, type_id, query)
            groups = f"{sql.text('experiment')}, {sql.text('pipeline')}, {sql.text('state')}"
            rows = self._over_runs(
                conn,
                type_id,
                f"SELECT {groups}, COUNT(*), MAX({sql.number('started_at')}) "
                f"FROM {source} WHERE {where} GROUP BY {groups}",
                [*source_params, *params],
            )
        return [
            RunGroup(
                experiment=None if e is None else str(e),
                pipeline=None if p is None else str(p),
                state=None if s is None else str(s),
                count=int(n),
                last_started_at=None if last is None else float(last),
            )
            for e, p, s, n, last in rows
        ]
