"""Turn rows of the lineage tables into records: column lists, value conversion per backend
(timestamps, JSON), and type names resolved from an in-memory cache."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from conveyor.metadata.entities import (
    ArtifactRecord,
    ArtifactState,
    ContextRecord,
    EventRecord,
    EventType,
    ExecutionRecord,
    ExecutionState,
)
from conveyor.metadata.sql._db import Conn

__all__ = [
    "ARTIFACT_COLUMNS",
    "CONTEXT_COLUMNS",
    "EVENT_COLUMNS",
    "EXECUTION_COLUMNS",
    "Records",
    "chunks",
    "columns",
    "marks",
]

ARTIFACT_COLUMNS = (
    "id",
    "type_id",
    "uri",
    "name",
    "state",
    "fingerprint",
    "size_bytes",
    "properties",
    "created_at",
    "updated_at",
)
EXECUTION_COLUMNS = (
    "id",
    "type_id",
    "name",
    "state",
    "cache_key",
    "properties",
    "created_at",
    "updated_at",
)
CONTEXT_COLUMNS = ("id", "type_id", "name", "properties", "created_at", "updated_at")
EVENT_COLUMNS = ("artifact_id", "execution_id", "type", "path", "created_at")


def columns(names: Sequence[str], table: str) -> str:
    """``table.a, table.b, ...``: a select list qualified by a table name or alias."""
    return ", ".join(f"{table}.{name}" for name in names)


def marks(count: int) -> str:
    """``?, ?, ...``: ``count`` placeholders (for an IN list or a VALUES row)."""
    return ", ".join(["?"] * count)


# Bound parameters per IN list: far below SQLite's (32766) and PostgreSQL's (65535) limits.
_CHUNK = 5000


def chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    """Split an id list so each IN (...) stays within every backend's parameter limit."""
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _sqlite_ts(value: str) -> datetime:
    # SQLAlchemy's SQLite DATETIME text (YYYY-MM-DD HH:MM:SS.ffffff), naive UTC
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _pg_ts(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _sqlite_ts_value(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _pg_ts_value(value: datetime) -> datetime:
    return value


def _pg_json(value: Any) -> Any:
    return value  # psycopg parses json columns


class Records:
    """Row-to-record conversion and the type cache (types are never deleted or renamed).

    Values are stored the way SQLAlchemy's column types stored them, so databases written by
    earlier versions read the same: on SQLite, timestamps as naive UTC text
    ``YYYY-MM-DD HH:MM:SS.ffffff`` and JSON as text; on PostgreSQL ``timestamp with time
    zone`` and ``json``. Timestamps always read back as aware UTC datetimes.

    Args:
        sqlite: whether the backend is SQLite.
    """

    def __init__(self, sqlite: bool) -> None:
        self.type_ids: dict[tuple[str, str], int] = {}
        self.type_names: dict[int, str] = {}
        self._ts = self.ts = _sqlite_ts if sqlite else _pg_ts
        """A timestamp column's value as an aware UTC datetime."""
        self._json = json.loads if sqlite else _pg_json
        self.ts_value = _sqlite_ts_value if sqlite else _pg_ts_value
        """A timestamp (aware) as the value to bind for a timestamp column."""

    def properties(self, value: Any) -> dict[str, Any]:
        """A properties column's value as a dict."""
        parsed: dict[str, Any] = self._json(value)
        return parsed

    def remember(self, kind: str, name: str, type_id: int) -> None:
        """Cache a type id, once its row is committed."""
        self.type_ids[(kind, name)] = type_id
        self.type_names[type_id] = name

    def load_types(self, conn: Conn) -> None:
        """(Re)load the whole types table; it holds a few dozen rows."""
        rows = conn.execute("SELECT id, kind, name FROM types").fetchall()
        for type_id, kind, name in rows:
            self.remember(kind, name, type_id)

    def find_type(self, conn: Conn, kind: str, name: str) -> int | None:
        """A type id by kind and name, without creating it."""
        type_id = self.type_ids.get((kind, name))
        if type_id is None:
            self.load_types(conn)
            type_id = self.type_ids.get((kind, name))
        return type_id

    def _names(self, conn: Conn, rows: Sequence[Any]) -> dict[int, str]:
        names = self.type_names
        if any(row[1] not in names for row in rows):
            self.load_types(conn)
        return names

    def artifacts(self, conn: Conn, rows: Sequence[Any]) -> list[ArtifactRecord]:
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
                properties=self._json(r[7]),
                created_at=self._ts(r[8]),
                updated_at=self._ts(r[9]),
            )
            for r in rows
        ]

    def executions(self, conn: Conn, rows: Sequence[Any]) -> list[ExecutionRecord]:
        """Records from rows selected with :data:`EXECUTION_COLUMNS`."""
        names = self._names(conn, rows)
        return [
            ExecutionRecord(
                id=r[0],
                type_name=names[r[1]],
                name=r[2],
                state=ExecutionState(r[3]),
                cache_key=r[4],
                properties=self._json(r[5]),
                created_at=self._ts(r[6]),
                updated_at=self._ts(r[7]),
            )
            for r in rows
        ]

    def contexts(self, conn: Conn, rows: Sequence[Any]) -> list[ContextRecord]:
        """Records from rows selected with :data:`CONTEXT_COLUMNS`."""
        names = self._names(conn, rows)
        return [
            ContextRecord(
                id=r[0],
                type_name=names[r[1]],
                name=r[2],
                properties=self._json(r[3]),
                created_at=self._ts(r[4]),
                updated_at=self._ts(r[5]),
            )
            for r in rows
        ]

    def events(self, rows: Sequence[Any]) -> list[EventRecord]:
        """Records from rows selected with :data:`EVENT_COLUMNS`."""
        return [
            EventRecord(
                artifact_id=r[0],
                execution_id=r[1],
                type=EventType(r[2]),
                path=r[3],
                created_at=self._ts(r[4]),
            )
            for r in rows
        ]
