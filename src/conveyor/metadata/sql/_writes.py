"""The hot write path: the rows one execution writes, as driver SQL built from the Core tables.

Recording an execution is the store's hottest operation (a runner does it for every task), so
it skips SQLAlchemy's statement compilation and bind processing (about 15 us a statement) and
runs plain ``INSERT`` s through ``Connection.exec_driver_sql``. The connection, transaction,
``BEGIN IMMEDIATE`` and error wrapping are still SQLAlchemy's. Values are converted here the
way the Core column types would convert them (:class:`UtcDateTime`, ``JSON``), so rows read
back through Core are identical.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from conveyor.metadata.entities import (
    ArtifactRecord,
    ArtifactState,
    EventType,
    ExecutionState,
    NewArtifact,
)
from conveyor.metadata.sql._engine import json_dumps
from conveyor.metadata.sql.models import artifacts, associations, attributions, events, executions

__all__ = ["Writer"]

_INPUT = EventType.INPUT.value
_OUTPUT = EventType.OUTPUT.value


class Writer:
    """Inserts for one dialect (``sqlite`` or ``postgresql``).

    Args:
        dialect: the engine's dialect name.
    """

    def __init__(self, dialect: str) -> None:
        self._sqlite = dialect == "sqlite"
        mark = "?" if self._sqlite else "%s"

        def insert(table: sa.Table, suffix: str = "") -> tuple[str, str]:
            names = [c.name for c in table.columns if c is not table.autoincrement_column]
            head = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES "
            return head, f"({', '.join([mark] * len(names))}){suffix}"

        returning = "" if self._sqlite else " RETURNING id"
        self._execution = "".join(insert(executions, returning))
        self._artifact_head, self._artifact_row = insert(artifacts)
        self._artifact = self._artifact_head + self._artifact_row + returning
        self._events = "".join(insert(events))
        self._associations = "".join(insert(associations))
        self._attributions = "".join(insert(attributions, " ON CONFLICT DO NOTHING"))

    def _ts(self, value: datetime) -> Any:
        # SQLAlchemy's SQLite DATETIME text format, in UTC (see models.UtcDateTime).
        if self._sqlite:
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def _insert_one(self, conn: sa.Connection, sql: str, row: tuple[Any, ...]) -> int:
        result = conn.exec_driver_sql(sql, row)
        if self._sqlite:
            return result.lastrowid
        return result.scalar_one()  # type: ignore[no-any-return]

    def insert_execution(
        self,
        conn: sa.Connection,
        type_id: int,
        name: str,
        state: ExecutionState,
        cache_key: str | None,
        properties: Mapping[str, Any] | None,
        now: datetime,
    ) -> int:
        """Insert one execution row; return its id."""
        ts = self._ts(now)
        row = (
            type_id,
            name,
            ExecutionState(state).value,
            cache_key,
            json_dumps(dict(properties or {})),
            ts,
            ts,
        )
        return self._insert_one(conn, self._execution, row)

    def insert_artifacts(
        self,
        conn: sa.Connection,
        outputs: Sequence[NewArtifact],
        type_ids: Sequence[int],
        now: datetime,
    ) -> list[ArtifactRecord]:
        """Insert new artifacts; return their records in the order given."""
        if not outputs:
            return []
        ts = self._ts(now)
        properties = [dict(out.properties) for out in outputs]
        rows = [
            (
                type_id,
                out.uri,
                out.name,
                ArtifactState(out.state).value,
                out.fingerprint,
                out.size_bytes,
                json_dumps(props),
                ts,
                ts,
            )
            for out, type_id, props in zip(outputs, type_ids, properties, strict=True)
        ]
        if self._sqlite or len(rows) == 1:
            ids = [self._insert_one(conn, self._artifact, row) for row in rows]
        else:
            # One round trip. Ids come from a sequence in VALUES order (SQLAlchemy's
            # insertmanyvalues relies on the same), so sorted ids follow the input order.
            sql = self._artifact_head + ", ".join([self._artifact_row] * len(rows))
            params = tuple(value for row in rows for value in row)
            ids = sorted(conn.exec_driver_sql(sql + " RETURNING id", params).scalars())
        return [
            ArtifactRecord(
                id=artifact_id,
                type_name=out.type_name,
                uri=out.uri,
                name=out.name,
                state=ArtifactState(out.state),
                fingerprint=out.fingerprint,
                size_bytes=out.size_bytes,
                properties=props,
                created_at=now,
                updated_at=now,
            )
            for artifact_id, out, props in zip(ids, outputs, properties, strict=True)
        ]

    def insert_edges(
        self,
        conn: sa.Connection,
        execution_id: int,
        now: datetime,
        *,
        associate: Sequence[int] = (),
        attribute_to: Sequence[int] = (),
        inputs: Sequence[tuple[str, int]] = (),
        produced: Sequence[tuple[str, int]] = (),
    ) -> None:
        """Insert an execution's events and context links, one statement per table.

        Args:
            conn: in a write transaction.
            execution_id: the execution.
            now: the timestamp of the events.
            associate: contexts to associate the execution with (not yet associated).
            attribute_to: contexts to attribute the ``produced`` artifacts to.
            inputs: ``(key, artifact_id)`` INPUT events.
            produced: ``(key, artifact_id)`` OUTPUT events.
        """
        ts = self._ts(now)
        rows = [(artifact_id, execution_id, _INPUT, key, ts) for key, artifact_id in inputs]
        rows += [(artifact_id, execution_id, _OUTPUT, key, ts) for key, artifact_id in produced]
        if rows:
            conn.exec_driver_sql(self._events, rows)
        if associate:
            conn.exec_driver_sql(self._associations, [(execution_id, c) for c in associate])
        if attribute_to and produced:
            pairs = list(dict.fromkeys((a, c) for _, a in produced for c in attribute_to))
            conn.exec_driver_sql(self._attributions, pairs)
