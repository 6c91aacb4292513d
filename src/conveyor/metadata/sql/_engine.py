"""Engines for the SQL lineage store: URIs, SQLite locking, fork safety, error translation."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import sqlite3
import sys
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import StaticPool

from conveyor.errors import (
    AlreadyExistsError,
    ConfigError,
    MissingExtraError,
    NotFoundError,
    StoreError,
)

__all__ = [
    "BUSY_TIMEOUT_MS",
    "PAGE_SIZE",
    "WRITE",
    "Target",
    "abandon_pool",
    "create_engine",
    "json_dumps",
    "parse_uri",
    "track_for_fork",
    "translate_errors",
]

BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for the write lock before giving up."""

PAGE_SIZE = 2048
"""Page size of new SQLite files (see the connect hook)."""

WRITE = "conveyor_write"
"""Execution option: a transaction that writes (``BEGIN IMMEDIATE`` on SQLite)."""

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

_dumps = functools.partial(json.dumps, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def json_dumps(value: Any) -> str:
    """Serialise properties the same way on every backend (no NaN: PostgreSQL rejects it).

    Raises:
        TypeError: a value is not JSON (an object, NaN, infinity).
    """
    try:
        return _dumps(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"A property value cannot be stored as JSON ({exc}). "
            "Use dicts, lists, str, int, finite float, bool and None only."
        ) from exc


@dataclass(frozen=True)
class Target:
    """A parsed store URI.

    Attributes:
        uri: the URI as given.
        display: the URI with any password hidden, for messages.
        url: the SQLAlchemy URL with the driver to use.
        backend: ``"sqlite"`` or ``"postgresql"``.
        memory: whether this is an in-memory SQLite database.
        schema: the PostgreSQL schema (``?schema=``), if any.
    """

    uri: str
    display: str
    url: sa.URL
    backend: Literal["sqlite", "postgresql"]
    memory: bool
    schema: str | None


def parse_uri(uri: str) -> Target:
    """Parse a ``sqlite://`` or ``postgresql://`` URI.

    Args:
        uri: ``sqlite://`` (in memory), ``sqlite:///relative.db``, ``sqlite:////abs.db``,
            ``postgresql://user@host:port/db[?schema=NAME]``.

    Returns:
        The parsed target.

    Raises:
        ConfigError: the URI cannot be parsed or names an unsupported backend.
        MissingExtraError: a PostgreSQL URI but psycopg is not installed.
    """
    try:
        url = sa.make_url(uri)
    except sa_exc.ArgumentError as exc:
        raise ConfigError(
            f"Cannot parse the metadata store URI {uri!r}. "
            "Use sqlite:///path/to/file.db, sqlite:// or postgresql://user@host:port/db."
        ) from exc
    display = url.render_as_string(hide_password=True)
    backend, _, driver = url.drivername.partition("+")
    schema = url.query.get("schema")
    if isinstance(schema, tuple):
        schema = schema[-1]
    if backend == "sqlite":
        if schema is not None:
            raise ConfigError(
                f"The metadata store URI {display!r} has ?schema=, which only PostgreSQL "
                "supports. Remove it or use a separate SQLite file."
            )
        memory = url.database in (None, "", ":memory:")
        return Target(uri, display, url.set(drivername="sqlite"), "sqlite", memory, None)
    if backend in ("postgresql", "postgres"):
        if importlib.util.find_spec("psycopg") is None:
            raise MissingExtraError("postgres", "psycopg")
        if schema is not None and not _SCHEMA_NAME.match(schema):
            raise ConfigError(
                f"The schema {schema!r} in the metadata store URI {display!r} is not a plain "
                "identifier. Use letters, digits and underscores, starting with a letter."
            )
        url = url.set(drivername=f"postgresql+{driver or 'psycopg'}").difference_update_query(
            ["schema"]
        )
        return Target(uri, display, url, "postgresql", False, schema)
    raise ConfigError(
        f"The metadata store URI {display!r} names the backend {backend!r}, which the SQL "
        "store does not support. Use sqlite:// or postgresql://."
    )


def create_engine(target: Target) -> sa.Engine:
    """Create the engine for a target, with SQLite pragmas and ``BEGIN IMMEDIATE`` writes.

    Args:
        target: from :func:`parse_uri`.

    Returns:
        A new engine; nothing is connected yet.

    Raises:
        StoreError: the folder of a SQLite file cannot be created.
    """
    if target.backend == "postgresql":
        connect_args: dict[str, Any] = {}
        if target.schema is not None:
            connect_args["options"] = f"-c search_path={target.schema}"
        return sa.create_engine(target.url, json_serializer=json_dumps, connect_args=connect_args)

    if target.memory:
        engine = sa.create_engine(
            "sqlite://",
            json_serializer=json_dumps,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
        )
    else:
        assert target.url.database is not None
        folder = Path(target.url.database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the folder {str(folder)!r} for the metadata store "
                f"{target.display!r}: {exc.strerror or exc}. Check the path and permissions."
            ) from exc
        engine = sa.create_engine(
            target.url,
            json_serializer=json_dumps,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        )
    memory = target.memory

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver (documented SQLAlchemy recipe): the
        # "begin" hook below decides between BEGIN and BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA synchronous = NORMAL")
            if not memory:
                _use_wal(cursor)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # A writer takes the write lock up front: a deferred transaction that later tries to
        # write fails at once with "database is locked" instead of waiting for busy_timeout.
        # Straight to the driver: exec_driver_sql would cost ~20 us of event dispatch per
        # transaction. Its errors (e.g. "database is locked") are translated like any other.
        begin = "BEGIN IMMEDIATE" if connection.get_execution_options().get(WRITE) else "BEGIN"
        connection.connection.driver_connection.execute(begin)  # type: ignore[union-attr]

    return engine


def _use_wal(cursor: Any) -> None:
    """Switch a new database file to WAL, waiting for other processes doing the same.

    The switch needs an exclusive lock, and SQLite answers "database is locked" at once
    (without its busy handler) while another connection switches the same fresh file, so
    several processes opening a new store together retry until one of them has done it.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            # Only takes effect on a new file (before WAL fixes it). A commit appends every
            # page it dirtied (~12 for an execution) to the WAL: 2 KiB pages cut commit
            # time by ~30% against 4 KiB, and rows up to 2 KiB still fit in one page.
            cursor.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.2)


# --- fork safety --------------------------------------------------------------------------


class _ForkAware(Protocol):
    def after_fork_in_child(self) -> None: ...


_FORK_AWARE: weakref.WeakSet[_ForkAware] = weakref.WeakSet()
_ABANDONED_POOLS: list[Any] = []


def track_for_fork(obj: _ForkAware) -> None:
    """Call ``obj.after_fork_in_child()`` in every child process forked from now on."""
    _FORK_AWARE.add(obj)


def abandon_pool(engine: sa.Engine) -> None:
    """Give an engine a fresh pool in a forked child, without touching the parent's connections.

    The inherited pool is kept referenced for the child's lifetime: closing (or garbage
    collecting) a SQLite connection or socket shared with the parent could disturb the parent.
    """
    _ABANDONED_POOLS.append(engine.pool)
    engine.dispose(close=False)


def _after_fork_in_child() -> None:
    for obj in list(_FORK_AWARE):
        obj.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)


# --- error translation --------------------------------------------------------------------


def _hint(message: str) -> str:
    lowered = message.lower()
    if "database is locked" in lowered or "database is busy" in lowered:
        return (
            f"Another process held the SQLite write lock for more than {BUSY_TIMEOUT_MS // 1000}"
            " s. Find the process holding a long transaction, or use PostgreSQL for many writers."
        )
    if "unable to open database file" in lowered:
        return "Check that the folder exists, is writable, and that the path is right."
    if "no such table" in lowered or ("does not exist" in lowered and "relation" in lowered):
        return (
            "The database is not a Conveyor metadata store, or its tables were removed. "
            "Point the URI at the right database; connect() creates the tables in a new one."
        )
    if "connection" in lowered and ("refused" in lowered or "failed" in lowered):
        return (
            "Check that the PostgreSQL server is running and that host, port, user and "
            "database in the URI are right."
        )
    if "readonly" in lowered or "read-only" in lowered:
        return "The database file or its folder is read-only; make it writable."
    return "Check the database server and the store URI."


def _sqlstate(exc: sa_exc.DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


def _as_sqlalchemy_error(exc: BaseException) -> BaseException:
    """Wrap a raw driver exception (from the hot write path) the way SQLAlchemy would."""
    for name in ("sqlite3", "psycopg"):
        module = sys.modules.get(name)
        if module is not None and isinstance(exc, module.Error):
            wrapped: BaseException = sa_exc.DBAPIError.instance(None, None, exc, module.Error)
            return wrapped
    return exc


def _translate(exc: BaseException, action: str, where: str) -> BaseException | None:
    exc = _as_sqlalchemy_error(exc)
    if isinstance(exc, sa_exc.IntegrityError):
        detail = str(exc.orig).strip()
        state = _sqlstate(exc)
        if state == "23503" or "FOREIGN KEY" in detail:
            return NotFoundError(
                f"Cannot {action} in {where}: it refers to an artifact, execution or context "
                f"id that does not exist ({detail}). Pass ids returned by this store."
            )
        if state == "23505" or "UNIQUE" in detail:
            return AlreadyExistsError(
                f"Cannot {action} in {where}: an entity with the same identity already "
                f"exists ({detail})."
            )
        return StoreError(f"Cannot {action} in {where}: {detail}.")
    if isinstance(exc, sa_exc.DBAPIError):
        detail = (str(exc.orig).strip() or repr(exc.orig)).splitlines()[0]
        return StoreError(
            f"Cannot {action} in the metadata store {where}: {detail}. {_hint(detail)}"
        )
    if isinstance(exc, sa_exc.StatementError) and isinstance(exc.orig, TypeError):
        return TypeError(f"Cannot {action}: {exc.orig}")
    if isinstance(exc, sa_exc.SQLAlchemyError):
        return StoreError(f"Cannot {action} in the metadata store {where}: {exc}.")
    return None


@contextmanager
def translate_errors(action: str, where: str) -> Iterator[None]:
    """Translate SQLAlchemy and driver exceptions raised in the block into Conveyor errors.

    This is the store's only exception boundary: no SQLAlchemy, sqlite3 or psycopg exception
    leaves the store. The original exception is the ``__cause__``.

    Args:
        action: what was being done, e.g. ``"record the execution 'train'"``.
        where: the store URI to show (password hidden).

    Raises:
        NotFoundError: a referenced id does not exist (foreign key violation).
        AlreadyExistsError: a uniqueness constraint was violated.
        StoreError: any other database failure, with a hint on how to fix it.
        TypeError: a property value cannot be stored as JSON.
    """
    try:
        yield
    except Exception as exc:
        translated = _translate(exc, action, where)
        if translated is None:
            raise
        raise translated from exc
