"""Plumbing of the SQL store: engine, schema check, transactions, error boundary, type cache."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Self

import sqlalchemy as sa

from conveyor.errors import NotFoundError
from conveyor.metadata.entities import ContextRecord
from conveyor.metadata.sql import _engine
from conveyor.metadata.sql._migrate import ensure_schema
from conveyor.metadata.sql._records import CONTEXT_COLUMNS, Records
from conveyor.metadata.sql._writes import Writer
from conveyor.metadata.sql.models import contexts, types

__all__ = ["SqlStoreBase", "utc_now"]


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
        self._records = Records()
        self._lock: AbstractContextManager[Any] = (
            threading.RLock() if self._target.memory else nullcontext()
        )
        # SQLite files: one connection kept for writes (a pool checkout per transaction is a
        # third of the cost of recording an execution); a lock serialises its users.
        self._keep_writer = self._target.backend == "sqlite" and not self._target.memory
        self._write_lock = threading.RLock()
        self._write_conn: sa.Connection | None = None
        # the dialect's INSERT ... ON CONFLICT; only the backend in use is imported (the
        # PostgreSQL dialect costs a SQLite run's start-up ~20 ms, asyncio included)
        self._upsert: Callable[..., Any]
        if self._target.backend == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as postgresql_insert

            self._upsert = postgresql_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            self._upsert = sqlite_insert
        self._writes = Writer(self._target.backend)
        self._engine = _engine.create_engine(self._target)
        self._writer = self._engine.execution_options(**{_engine.WRITE: True})
        try:
            with self._lock, _engine.translate_errors("open and check the schema", self._where):
                ensure_schema(self._engine, schema=self._target.schema)
        except BaseException:
            self._engine.dispose()
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
    def _write(self, action: str) -> Iterator[sa.Connection]:
        if not self._keep_writer:
            with (
                self._lock,
                _engine.translate_errors(action, self._where),
                self._writer.begin() as c,
            ):
                yield c
            return
        with self._write_lock, _engine.translate_errors(action, self._where):
            if self._write_conn is None or self._write_conn.closed:
                self._write_conn = self._writer.connect()
            conn = self._write_conn
            try:
                with conn.begin():
                    yield conn
            except BaseException:
                conn.close()  # a broken connection is never reused
                self._write_conn = None
                raise

    @contextmanager
    def _read(self, action: str) -> Iterator[sa.Connection]:
        with self._lock, _engine.translate_errors(action, self._where), self._engine.begin() as c:
            yield c

    @staticmethod
    def _set_context_properties(
        conn: sa.Connection, context_id: int, properties: dict[str, Any], now: datetime
    ) -> None:
        conn.execute(
            sa.update(contexts)
            .where(contexts.c.id == context_id)
            .values(properties=properties, updated_at=now)
        )

    def _merge_into_context(
        self, conn: sa.Connection, context_id: int, properties: Mapping[str, Any]
    ) -> ContextRecord:
        """Merge ``properties`` into a context's (top-level keys replace), in ``conn``'s
        transaction; return the updated record."""
        row = conn.execute(
            sa.select(*CONTEXT_COLUMNS).where(contexts.c.id == context_id).with_for_update()
        ).first()
        if row is None:
            raise NotFoundError(f"No context with id {context_id!r} in the metadata store.")
        record = self._records.contexts(conn, [row])[0]
        merged = {**record.properties, **properties}
        now = utc_now()
        self._set_context_properties(conn, context_id, merged, now)
        return replace(record, properties=merged, updated_at=now)

    def after_fork_in_child(self) -> None:
        """Called in a forked child: drop the parent's connections (they stay open there)."""
        self._write_lock = threading.RLock()
        self._write_conn = None  # the parent's connection: never touch it here
        if self._target.memory:
            self._lock = threading.RLock()
        else:
            _engine.abandon_pool(self._engine)

    def _type_id(self, kind: str, name: str) -> int:
        """The id of a type, created on first use (in its own short transaction)."""
        type_id = self._records.type_ids.get((kind, name))
        if type_id is not None:
            return type_id
        if not isinstance(name, str) or not name:
            raise ValueError(f"A {kind} type name must be a non-empty string, got {name!r}.")
        stmt = self._upsert(types).on_conflict_do_nothing(
            index_elements=["kind", "name", "version"]
        )
        with self._write(f"register the {kind} type {name!r}") as conn:
            conn.execute(
                stmt,
                {
                    "kind": kind,
                    "name": name,
                    "version": "",
                    "properties": {},
                    "created_at": utc_now(),
                },
            )
            new_id: int = conn.execute(
                sa.select(types.c.id).where(
                    types.c.kind == kind, types.c.name == name, types.c.version == ""
                )
            ).scalar_one()
        self._records.remember(kind, name, new_id)
        return new_id

    def close(self) -> None:
        """Release connections. Safe to call twice."""
        if not self._closed:
            self._closed = True
            if self._write_conn is not None:
                self._write_conn.close()
                self._write_conn = None
            self._engine.dispose()
