"""Plumbing of the SQL store: engine, schema check, transactions, error boundary, type cache."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Self

from conveyor.errors import NotFoundError
from conveyor.metadata.entities import ContextRecord
from conveyor.metadata.sql import _engine
from conveyor.metadata.sql._db import Conn, Database
from conveyor.metadata.sql._migrate import ensure_schema
from conveyor.metadata.sql._records import CONTEXT_COLUMNS, Records
from conveyor.metadata.sql._writes import Writer

__all__ = ["SqlStoreBase", "utc_now"]

_CONTEXT_SELECT = f"SELECT {', '.join(CONTEXT_COLUMNS)} FROM contexts"


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (one value per write transaction)."""
    return datetime.now(UTC)


class SqlStoreBase:
    """What every method of :class:`SqlMetadataStore` builds on (Kedro's wrapper pattern).

    ``_write`` and ``_read`` open a transaction inside the store's only error boundary, so the
    methods never catch or translate database errors themselves.
    """

    uri: str

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._target = _engine.parse_uri(uri)
        self._where = repr(self._target.display)
        self._sqlite = self._target.backend == "sqlite"
        self._records = Records(self._sqlite)
        self._writes = Writer(self._target.backend)
        # FOR UPDATE locks a row read for a read-modify-write (PostgreSQL; SQLite is serial)
        self._for_update = "" if self._sqlite else " FOR UPDATE"
        self._db = Database(self._target)
        try:
            with _engine.translate_errors("open and check the schema", self._where):
                ensure_schema(self._db)
        except BaseException:
            self._db.close()
            raise
        self._closed = False
        _engine.track_for_fork(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._target.display!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- plumbing ---------------------------------------------------------------------------
    @contextmanager
    def _write(self, action: str) -> Iterator[Conn]:
        with (
            _engine.translate_errors(action, self._where),
            self._db.transaction(write=True) as conn,
        ):
            yield conn

    @contextmanager
    def _read(self, action: str) -> Iterator[Conn]:
        with (
            _engine.translate_errors(action, self._where),
            self._db.transaction(write=False) as conn,
        ):
            yield conn

    def _set_context_properties(
        self, conn: Conn, context_id: int, properties: dict[str, Any], now: datetime
    ) -> None:
        conn.execute(
            "UPDATE contexts SET properties = ?, updated_at = ? WHERE id = ?",
            (_engine.json_dumps(properties), self._records.ts_value(now), context_id),
        )

    def _merge_into_context(
        self, conn: Conn, context_id: int, properties: Mapping[str, Any]
    ) -> ContextRecord:
        """Merge ``properties`` into a context's (top-level keys replace), in ``conn``'s
        transaction; return the updated record."""
        row = conn.execute(
            f"{_CONTEXT_SELECT} WHERE id = ?{self._for_update}", (context_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"No context with id {context_id!r} in the metadata store.")
        record = self._records.contexts(conn, [row])[0]
        merged = {**record.properties, **properties}
        now = utc_now()
        self._set_context_properties(conn, context_id, merged, now)
        return replace(record, properties=merged, updated_at=now)

    def after_fork_in_child(self) -> None:
        """Called in a forked child: drop the parent's connections (they stay open there)."""
        self._db.after_fork_in_child()

    def _type_id(self, kind: str, name: str) -> int:
        """The id of a type, created on first use (in its own short transaction)."""
        type_id = self._records.type_ids.get((kind, name))
        if type_id is not None:
            return type_id
        if not isinstance(name, str) or not name:
            raise ValueError(f"A {kind} type name must be a non-empty string, got {name!r}.")
        with self._write(f"register the {kind} type {name!r}") as conn:
            conn.execute(
                "INSERT INTO types (kind, name, version, properties, created_at) "
                "VALUES (?, ?, '', '{}', ?) ON CONFLICT (kind, name, version) DO NOTHING",
                (kind, name, self._records.ts_value(utc_now())),
            )
            new_id: int = conn.execute(
                "SELECT id FROM types WHERE kind = ? AND name = ? AND version = ''", (kind, name)
            ).fetchone()[0]
        self._records.remember(kind, name, new_id)
        return new_id

    def close(self) -> None:
        """Release connections. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self._db.close()
