"""Connections and transactions of the SQL lineage store, on the DB-API drivers directly.

SQLite goes through the standard library's ``sqlite3``, PostgreSQL through ``psycopg`` (3). The
store's SQL is written once with ``?`` placeholders; :class:`Conn` adapts it to psycopg's
``%s``. Transactions are explicit: ``BEGIN IMMEDIATE`` for SQLite writes (the write lock up
front), ``BEGIN`` otherwise, then ``COMMIT`` or ``ROLLBACK``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from conveyor.errors import StoreError
from conveyor.metadata.sql import _engine
from conveyor.metadata.sql._engine import Target

__all__ = ["RETURNING", "Conn", "Database"]

RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)
"""Whether this SQLite understands ``INSERT ... RETURNING`` (PostgreSQL always does)."""

_POOL_SIZE = 5  # idle connections kept per store (SQLAlchemy's QueuePool default)

# Connections inherited through fork: kept referenced for the child's lifetime, because closing
# (or garbage collecting) a SQLite connection or a socket shared with the parent could disturb it.
_ABANDONED: list[Any] = []


class Conn:
    """A driver connection in a transaction, with the store's SQL dialect adapted.

    Attributes:
        raw: the ``sqlite3`` or ``psycopg`` connection.
        sqlite: whether the backend is SQLite.
        returning: whether ``INSERT ... RETURNING`` is available.
    """

    __slots__ = ("execute", "executemany", "raw", "returning", "sqlite")

    def __init__(self, raw: Any, sqlite: bool) -> None:
        self.raw = raw
        self.sqlite = sqlite
        self.returning = RETURNING or not sqlite
        self.execute: Callable[..., Any]
        self.executemany: Callable[..., Any]
        if sqlite:
            # straight to the driver: ~2 us a statement in-process
            self.execute = raw.execute
            self.executemany = raw.executemany
        else:
            self.execute = self._pg_execute
            self.executemany = self._pg_executemany

    def _pg_execute(self, sql: str, params: Any = None) -> Any:
        return self.raw.execute(_pg_sql(sql), params)

    def _pg_executemany(self, sql: str, rows: Any) -> Any:
        cursor = self.raw.cursor()
        cursor.executemany(_pg_sql(sql), rows)
        return cursor


_PG_SQL: dict[str, str] = {}


def _pg_sql(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (the store's SQL has no other ``?`` or ``%``)."""
    converted = _PG_SQL.get(sql)
    if converted is None:
        converted = _PG_SQL[sql] = sql.replace("?", "%s")
    return converted


def configure_sqlite(raw: sqlite3.Connection, memory: bool) -> None:
    """Set the pragmas every SQLite connection of the store uses (and WAL on a file)."""
    raw.execute(f"PRAGMA busy_timeout = {_engine.BUSY_TIMEOUT_MS}")
    raw.execute("PRAGMA foreign_keys = ON")
    raw.execute("PRAGMA synchronous = NORMAL")
    if not memory:
        _use_wal(raw)


def _use_wal(raw: sqlite3.Connection) -> None:
    """Switch a new database file to WAL, waiting for other processes doing the same.

    The switch needs an exclusive lock, and SQLite answers "database is locked" at once
    (without its busy handler) while another connection switches the same fresh file, so
    several processes opening a new store together retry until one of them has done it.
    """
    deadline = time.monotonic() + _engine.BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            if raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            # Only takes effect on a new file (before WAL fixes it). A commit appends every
            # page it dirtied (~12 for an execution) to the WAL: 2 KiB pages cut commit
            # time by ~30% against 4 KiB, and rows up to 2 KiB still fit in one page.
            raw.execute(f"PRAGMA page_size = {_engine.PAGE_SIZE}")
            raw.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.2)


class Database:
    """The connections of one store: a small pool, SQLite's kept writer, the in-memory one.

    - SQLite file: one connection kept for writes (opening one per transaction would be a third
      of the cost of recording an execution), serialised by a lock; readers use the pool.
    - ``sqlite://``: ONE connection shared by every thread under an RLock (the database lives in
      it).
    - PostgreSQL: a pool of connections, one per concurrent transaction.

    Args:
        target: from :func:`conveyor.metadata.sql._engine.parse_uri`.

    Raises:
        StoreError: the folder of a SQLite file cannot be created.
    """

    def __init__(self, target: Target) -> None:
        self.target = target
        self.sqlite = target.backend == "sqlite"
        self.memory = target.memory
        self.connect_hooks: list[Callable[[Any], None]] = []
        """Called with every new driver connection, after the store's own setup (tests)."""
        self._idle: list[Any] = []
        self._idle_lock = threading.Lock()
        self._lock = threading.RLock()  # sqlite:// connection, or the kept SQLite writer
        self._shared: Any = None  # the sqlite:// connection, or the kept writer of a file
        if self.sqlite and not self.memory:
            assert target.database is not None
            folder = os.path.dirname(os.path.expanduser(target.database)) or "."
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"Cannot create the folder {str(folder)!r} for the metadata store "
                    f"{target.display!r}: {exc.strerror or exc}. Check the path and permissions."
                ) from exc

    def connect(self) -> Any:
        """A new driver connection, set up for the store (autocommit: transactions are ours)."""
        if self.sqlite:
            path = ":memory:" if self.memory else os.path.expanduser(str(self.target.database))
            raw: Any = sqlite3.connect(
                path,
                timeout=_engine.BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                configure_sqlite(raw, self.memory)
            except BaseException:
                raw.close()
                raise
        else:
            import psycopg

            options = None if self.target.schema is None else _search_path(self.target)
            raw = psycopg.connect(str(self.target.database), autocommit=True, options=options)
        for hook in self.connect_hooks:
            hook(raw)
        return raw

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Conn]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        if self.memory or (write and self.sqlite):
            with self._lock:
                if self._shared is None:
                    self._shared = self.connect()
                raw = self._shared
                try:
                    yield from self._run(raw, write)
                except BaseException:
                    if not self.memory and not _healthy(raw, self.sqlite):
                        self._shared = None  # a broken writer is never reused
                        _close(raw)
                    raise
            return
        raw = self._checkout()
        try:
            yield from self._run(raw, write)
        except BaseException:
            if _healthy(raw, self.sqlite):
                self._checkin(raw)
            else:
                _close(raw)
            raise
        self._checkin(raw)

    def _run(self, raw: Any, write: bool) -> Iterator[Conn]:
        raw.execute("BEGIN IMMEDIATE" if write and self.sqlite else "BEGIN")
        try:
            yield Conn(raw, self.sqlite)
            raw.execute("COMMIT")
        except BaseException:
            _rollback(raw, self.sqlite)  # also after a failed COMMIT: the connection is reused
            raise

    def _checkout(self) -> Any:
        with self._idle_lock:
            if self._idle:
                return self._idle.pop()
        return self.connect()

    def _checkin(self, raw: Any) -> None:
        with self._idle_lock:
            if len(self._idle) < _POOL_SIZE:
                self._idle.append(raw)
                return
        _close(raw)

    def after_fork_in_child(self) -> None:
        """In a forked child: never touch the parent's connections (they stay open there).

        An in-memory database is the child's own copy, so its connection is kept.
        """
        self._idle_lock = threading.Lock()
        self._lock = threading.RLock()
        _ABANDONED.append(self._idle)
        self._idle = []
        if not self.memory:
            _ABANDONED.append(self._shared)
            self._shared = None

    def close(self) -> None:
        """Close every connection (an in-memory database is gone). Reconnects if used again."""
        with self._lock, self._idle_lock:
            idle, self._idle = self._idle, []
            shared, self._shared = self._shared, None
        for raw in [*idle, shared]:
            if raw is not None:
                _close(raw)


def _search_path(target: Target) -> str:
    return f"-c search_path={target.schema}"


def _rollback(raw: Any, sqlite: bool) -> None:
    """Roll back after an error, if the connection is still usable (its error matters more)."""
    try:
        if sqlite:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
        elif not raw.closed:
            raw.execute("ROLLBACK")
    except Exception:  # the original error matters more; the caller re-raises it
        pass


def _healthy(raw: Any, sqlite: bool) -> bool:
    """Whether a connection is out of any transaction and open, so it can be reused."""
    try:
        if sqlite:
            return not raw.in_transaction
        from psycopg.pq import TransactionStatus

        return not raw.closed and raw.info.transaction_status == TransactionStatus.IDLE
    except Exception:  # a closed sqlite3 connection raises on in_transaction
        return False


def _close(raw: Any) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection may fail; it is dropped
        raw.close()
