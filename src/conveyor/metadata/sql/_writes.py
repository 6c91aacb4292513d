"""The hot write path: the rows one execution writes.

Recording an execution is the store's hottest operation (a runner does it for every task).
Values are converted the way SQLAlchemy's column types of ``models.py`` converted them
(``UtcDateTime``, ``JSON``), so rows written by any version read back identically.

SQLite runs in-process: one statement per table on the sqlite3 connection itself. PostgreSQL
pays a network round trip per statement, so all inserts of an execution go to psycopg as one
statement of data-modifying CTEs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from conveyor.metadata.entities import (
    ArtifactRecord,
    ArtifactState,
    EventType,
    ExecutionState,
    NewArtifact,
)
from conveyor.metadata.sql._db import Conn
from conveyor.metadata.sql._engine import json_dumps
from conveyor.metadata.sql._records import ARTIFACT_COLUMNS, EVENT_COLUMNS, EXECUTION_COLUMNS

__all__ = ["Writer"]

_INPUT = EventType.INPUT.value
_OUTPUT = EventType.OUTPUT.value

Edge = tuple[str, int]  # (key, artifact_id)


# The columns each insert fills: the columns read back, without the id the database assigns.
_EXECUTION_COLUMNS = [c for c in EXECUTION_COLUMNS if c != "id"]
_ARTIFACT_COLUMNS = [c for c in ARTIFACT_COLUMNS if c != "id"]
_EVENT_COLUMNS = list(EVENT_COLUMNS)


def _placeholders(mark: str, count: int) -> str:
    return f"({', '.join([mark] * count)})"


class Writer:
    """Writes executions with their artifacts, events and context links, for one dialect.

    Args:
        dialect: the engine's dialect name, ``"sqlite"`` or ``"postgresql"``.
    """

    def __init__(self, dialect: str) -> None:
        self._sqlite = dialect == "sqlite"
        mark = "?" if self._sqlite else "%s"
        self._execution_cols = _EXECUTION_COLUMNS
        self._artifact_cols = _ARTIFACT_COLUMNS
        self._execution_row = _placeholders(mark, len(self._execution_cols))
        self._artifact_row = _placeholders(mark, len(self._artifact_cols))
        self._insert_execution = (
            f"INSERT INTO executions ({', '.join(self._execution_cols)}) VALUES "
            f"{self._execution_row}"
        )
        self._insert_artifact = (
            f"INSERT INTO artifacts ({', '.join(self._artifact_cols)}) VALUES {self._artifact_row}"
        )
        event_cols = _EVENT_COLUMNS
        self._insert_events = (
            f"INSERT INTO events ({', '.join(event_cols)}) VALUES "
            f"{_placeholders(mark, len(event_cols))}"
        )
        self._insert_associations = (
            f"INSERT INTO associations (execution_id, context_id) VALUES ({mark}, {mark})"
        )
        self._insert_attributions = (
            "INSERT INTO attributions (artifact_id, context_id) "
            f"VALUES ({mark}, {mark}) ON CONFLICT DO NOTHING"
        )
        self._contexts_of = f"SELECT context_id FROM associations WHERE execution_id = {mark}"

    # --- values, converted as the SQLAlchemy column types did -------------------------------
    def _ts(self, value: datetime) -> Any:
        # SQLAlchemy's SQLite DATETIME text format, in UTC (see models.UtcDateTime).
        if self._sqlite:
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def _execution_values(
        self,
        type_id: int,
        name: str,
        state: ExecutionState,
        cache_key: str | None,
        properties: Mapping[str, Any] | None,
        ts: Any,
    ) -> tuple[Any, ...]:
        props = json_dumps(dict(properties or {}))
        return (type_id, name, ExecutionState(state).value, cache_key, props, ts, ts)

    @staticmethod
    def _artifact_values(
        outputs: Sequence[NewArtifact], type_ids: Sequence[int], ts: Any
    ) -> list[tuple[Any, ...]]:
        return [
            (
                type_id,
                out.uri,
                out.name,
                ArtifactState(out.state).value,
                out.fingerprint,
                out.size_bytes,
                json_dumps(dict(out.properties)),
                ts,
                ts,
            )
            for out, type_id in zip(outputs, type_ids, strict=True)
        ]

    @staticmethod
    def _records(
        ids: Sequence[int], outputs: Sequence[NewArtifact], now: datetime
    ) -> list[ArtifactRecord]:
        return [
            ArtifactRecord(
                id=artifact_id,
                type_name=out.type_name,
                uri=out.uri,
                name=out.name,
                state=ArtifactState(out.state),
                fingerprint=out.fingerprint,
                size_bytes=out.size_bytes,
                properties=dict(out.properties),
                created_at=now,
                updated_at=now,
            )
            for artifact_id, out in zip(ids, outputs, strict=True)
        ]

    # --- the two operations -------------------------------------------------------------------
    def record(
        self,
        conn: Conn,
        *,
        type_id: int,
        name: str,
        state: ExecutionState,
        cache_key: str | None,
        properties: Mapping[str, Any] | None,
        contexts: Sequence[int],
        inputs: Sequence[Edge],
        outputs: Sequence[NewArtifact],
        type_ids: Sequence[int],
        reused: Sequence[Edge],
        now: datetime,
    ) -> tuple[int, list[ArtifactRecord]]:
        """Insert a new execution, its inputs, new outputs, reused outputs and context links.

        Returns:
            The execution id and the new artifacts, in the order given.
        """
        ts = self._ts(now)
        execution = self._execution_values(type_id, name, state, cache_key, properties, ts)
        context_ids = list(dict.fromkeys(contexts))
        rows = self._artifact_values(outputs, type_ids, ts)
        if not self._sqlite:
            keys = [out.key for out in outputs]
            execution_id, ids = self._pg_write(
                conn, execution, None, context_ids, inputs, keys, rows, reused, ts
            )
            return execution_id, self._records(ids, outputs, now)
        raw = self._driver(conn)
        execution_id = raw.execute(self._insert_execution, execution).lastrowid
        ids = [raw.execute(self._insert_artifact, row).lastrowid for row in rows]
        produced = [(out.key, i) for out, i in zip(outputs, ids, strict=True)] + list(reused)
        self._sqlite_edges(raw, execution_id, ts, context_ids, context_ids, inputs, produced)
        return execution_id, self._records(ids, outputs, now)

    def add_outputs(
        self,
        conn: Conn,
        execution_id: int,
        *,
        outputs: Sequence[NewArtifact],
        type_ids: Sequence[int],
        reused: Sequence[Edge],
        now: datetime,
    ) -> list[ArtifactRecord]:
        """Insert outputs of an existing execution, attributed to the execution's contexts."""
        if not outputs and not reused:
            return []
        ts = self._ts(now)
        rows = self._artifact_values(outputs, type_ids, ts)
        if not self._sqlite:
            keys = [out.key for out in outputs]
            _, ids = self._pg_write(conn, None, execution_id, [], [], keys, rows, reused, ts)
            return self._records(ids, outputs, now)
        raw = self._driver(conn)
        ids = [raw.execute(self._insert_artifact, row).lastrowid for row in rows]
        produced = [(out.key, i) for out, i in zip(outputs, ids, strict=True)] + list(reused)
        context_ids = [c for (c,) in raw.execute(self._contexts_of, (execution_id,))]
        self._sqlite_edges(raw, execution_id, ts, [], context_ids, [], produced)
        return self._records(ids, outputs, now)

    # --- SQLite: one statement per table ------------------------------------------------------
    @staticmethod
    def _driver(conn: Conn) -> Any:
        """The sqlite3 connection under ``conn`` (in-process statements cost about 2 us)."""
        return conn.raw

    def _sqlite_edges(
        self,
        raw: Any,
        execution_id: int,
        ts: Any,
        associate: Sequence[int],
        attribute_to: Sequence[int],
        inputs: Sequence[Edge],
        produced: Sequence[Edge],
    ) -> None:
        rows = [(artifact_id, execution_id, _INPUT, key, ts) for key, artifact_id in inputs]
        rows += [(artifact_id, execution_id, _OUTPUT, key, ts) for key, artifact_id in produced]
        if rows:
            raw.executemany(self._insert_events, rows)
        if associate:
            raw.executemany(self._insert_associations, [(execution_id, c) for c in associate])
        if attribute_to and produced:
            pairs = list(dict.fromkeys((a, c) for _, a in produced for c in attribute_to))
            raw.executemany(self._insert_attributions, pairs)

    # --- PostgreSQL: one statement ------------------------------------------------------------
    def _pg_write(
        self,
        conn: Conn,
        execution: tuple[Any, ...] | None,
        execution_id: int | None,
        associate: Sequence[int],
        inputs: Sequence[Edge],
        output_keys: Sequence[str],
        artifact_rows: Sequence[tuple[Any, ...]],
        reused: Sequence[Edge],
        ts: Any,
    ) -> tuple[int, list[int]]:
        """Everything in one statement of data-modifying CTEs.

        ``x`` is the new (or given) execution, ``an`` the new artifacts numbered in insertion
        order, ``e`` the edges: ``(artifact_id, n, type, path)`` where ``n`` points into ``an``
        for a new artifact. Foreign keys are checked at the end of the statement, so events may
        refer to rows inserted by sibling CTEs.
        """
        parts: list[str] = []
        params: list[Any] = []
        if execution is not None:
            cols = ", ".join(self._execution_cols)
            parts.append(f"x AS (INSERT INTO executions ({cols}) VALUES {self._execution_row}")
            parts[-1] += " RETURNING id)"
            params += execution
        else:
            parts.append("x AS (SELECT %s::bigint AS id)")
            params.append(execution_id)
        if artifact_rows:
            values = ", ".join([self._artifact_row] * len(artifact_rows))
            cols = ", ".join(self._artifact_cols)
            parts.append(f"a AS (INSERT INTO artifacts ({cols}) VALUES {values} RETURNING id)")
            # Ids come from a sequence in VALUES order (SQLAlchemy's insertmanyvalues relies on
            # the same), so numbering them by id gives the input order.
            parts.append("an AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM a)")
            params += [v for row in artifact_rows for v in row]
        else:
            parts.append("an AS (SELECT NULL::bigint AS id, NULL::bigint AS n WHERE false)")
        edges: list[tuple[int | None, int | None, str, str]] = [
            (artifact_id, None, _INPUT, key) for key, artifact_id in inputs
        ]
        edges += [(None, n + 1, _OUTPUT, row_key) for n, row_key in enumerate(output_keys)]
        edges += [(artifact_id, None, _OUTPUT, key) for key, artifact_id in reused]
        if execution is not None:
            parts.append("c AS (SELECT unnest(%s::bigint[]) AS id)")
            params.append(list(associate))
            parts.append("ass AS (INSERT INTO associations SELECT x.id, c.id FROM x CROSS JOIN c)")
        else:
            parts.append(
                "c AS (SELECT context_id AS id FROM associations, x WHERE execution_id = x.id)"
            )
        if edges:
            row = "(%s::bigint, %s::bigint, %s::varchar, %s::varchar)"
            parts.append(
                f"e(artifact_id, n, type, path) AS (VALUES {', '.join([row] * len(edges))})"
            )
            params += [v for edge in edges for v in edge]
            parts.append(
                "ev AS (INSERT INTO events (artifact_id, execution_id, type, path, created_at) "
                "SELECT coalesce(e.artifact_id, an.id), x.id, e.type, e.path, %s "
                "FROM e CROSS JOIN x LEFT JOIN an ON an.n = e.n)"
            )
            params.append(ts)
            parts.append(
                "att AS (INSERT INTO attributions (artifact_id, context_id) "
                "SELECT DISTINCT coalesce(e.artifact_id, an.id), c.id FROM e "
                f"LEFT JOIN an ON an.n = e.n CROSS JOIN c WHERE e.type = '{_OUTPUT}' "
                "ON CONFLICT DO NOTHING)"
            )
        result = "SELECT (SELECT id FROM x), ARRAY(SELECT id FROM an ORDER BY n)"
        sql = f"WITH {', '.join(parts)} {result}"
        execution_id_out, ids = conn.raw.execute(sql, tuple(params)).fetchone()
        return execution_id_out, list(ids)
