"""Turn rows of the lineage tables into records, resolving type names from an in-memory cache."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from conveyor.metadata.entities import (
    ArtifactRecord,
    ArtifactState,
    ContextRecord,
    EventRecord,
    EventType,
    ExecutionRecord,
    ExecutionState,
)
from conveyor.metadata.sql.models import artifacts, contexts, events, executions, types

__all__ = [
    "ARTIFACT_COLUMNS",
    "CONTEXT_COLUMNS",
    "EVENT_COLUMNS",
    "EXECUTION_COLUMNS",
    "Records",
    "chunks",
]

ARTIFACT_COLUMNS = (
    artifacts.c.id,
    artifacts.c.type_id,
    artifacts.c.uri,
    artifacts.c.name,
    artifacts.c.state,
    artifacts.c.fingerprint,
    artifacts.c.size_bytes,
    artifacts.c.properties,
    artifacts.c.created_at,
    artifacts.c.updated_at,
)
EXECUTION_COLUMNS = (
    executions.c.id,
    executions.c.type_id,
    executions.c.name,
    executions.c.state,
    executions.c.cache_key,
    executions.c.properties,
    executions.c.created_at,
    executions.c.updated_at,
)
CONTEXT_COLUMNS = (
    contexts.c.id,
    contexts.c.type_id,
    contexts.c.name,
    contexts.c.properties,
    contexts.c.created_at,
    contexts.c.updated_at,
)
EVENT_COLUMNS = (
    events.c.artifact_id,
    events.c.execution_id,
    events.c.type,
    events.c.path,
    events.c.created_at,
)

# Bound parameters per IN list: far below SQLite's (32766) and PostgreSQL's (65535) limits.
_CHUNK = 5000


def chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    """Split an id list so each IN (...) stays within every backend's parameter limit."""
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


class Records:
    """Row-to-record conversion and the type cache (types are never deleted or renamed)."""

    def __init__(self) -> None:
        self.type_ids: dict[tuple[str, str], int] = {}
        self.type_names: dict[int, str] = {}

    def remember(self, kind: str, name: str, type_id: int) -> None:
        """Cache a type id, once its row is committed."""
        self.type_ids[(kind, name)] = type_id
        self.type_names[type_id] = name

    def load_types(self, conn: sa.Connection) -> None:
        """(Re)load the whole types table; it holds a few dozen rows."""
        rows = conn.execute(sa.select(types.c.id, types.c.kind, types.c.name)).all()
        for type_id, kind, name in rows:
            self.remember(kind, name, type_id)

    def find_type(self, conn: sa.Connection, kind: str, name: str) -> int | None:
        """A type id by kind and name, without creating it."""
        type_id = self.type_ids.get((kind, name))
        if type_id is None:
            self.load_types(conn)
            type_id = self.type_ids.get((kind, name))
        return type_id

    def _names(self, conn: sa.Connection, rows: Sequence[Any]) -> dict[int, str]:
        names = self.type_names
        if any(row[1] not in names for row in rows):
            self.load_types(conn)
        return names

    def artifacts(self, conn: sa.Connection, rows: Sequence[Any]) -> list[ArtifactRecord]:
        """Records from rows selected with :data:`ARTIFACT_COLUMNS`."""
        names = self._names(conn, rows)
        return [
            ArtifactRecord(
                id=r[0],
                type_name=names[r[1]],
                uri=r[2],
                name=r[3],
                state=ArtifactState(r[4]),
                fingerprint=r[5],
                size_bytes=r[6],
                properties=r[7],
                created_at=r[8],
                updated_at=r[9],
            )
            for r in rows
        ]

    def executions(self, conn: sa.Connection, rows: Sequence[Any]) -> list[ExecutionRecord]:
        """Records from rows selected with :data:`EXECUTION_COLUMNS`."""
        names = self._names(conn, rows)
        return [
            ExecutionRecord(
                id=r[0],
                type_name=names[r[1]],
                name=r[2],
                state=ExecutionState(r[3]),
                cache_key=r[4],
                properties=r[5],
                created_at=r[6],
                updated_at=r[7],
            )
            for r in rows
        ]

    def contexts(self, conn: sa.Connection, rows: Sequence[Any]) -> list[ContextRecord]:
        """Records from rows selected with :data:`CONTEXT_COLUMNS`."""
        names = self._names(conn, rows)
        return [
            ContextRecord(
                id=r[0],
                type_name=names[r[1]],
                name=r[2],
                properties=r[3],
                created_at=r[4],
                updated_at=r[5],
            )
            for r in rows
        ]

    @staticmethod
    def events(rows: Sequence[Any]) -> list[EventRecord]:
        """Records from rows selected with :data:`EVENT_COLUMNS`."""
        return [
            EventRecord(
                artifact_id=r[0],
                execution_id=r[1],
                type=EventType(r[2]),
                path=r[3],
                created_at=r[4],
            )
            for r in rows
        ]
