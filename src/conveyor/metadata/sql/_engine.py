"""Store URIs, JSON values, fork safety and the error boundary of the SQL lineage store.

Nothing here imports SQLAlchemy: the store talks to the DB-API drivers (``sqlite3``,
``psycopg``) directly; see :mod:`conveyor.metadata.sql._db` for connections and transactions.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import sqlite3
import sys
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import SplitResult, parse_qsl, unquote, urlencode, urlsplit, urlunsplit

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
    "Target",
    "json_dumps",
    "parse_uri",
    "track_for_fork",
    "translate_errors",
]

BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for the write lock before giving up."""

PAGE_SIZE = 2048
"""Page size of new SQLite files (see ``_db.configure_sqlite``)."""

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")

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
        backend: ``"sqlite"`` or ``"postgresql"``.
        memory: whether this is an in-memory SQLite database.
        schema: the PostgreSQL schema (``?schema=``), if any.
        database: the SQLite file path (None in memory), or the libpq connection URI of a
            PostgreSQL database (``postgresql://...`` without ``?schema=``).
    """

    uri: str
    display: str
    backend: Literal["sqlite", "postgresql"]
    memory: bool
    schema: str | None
    database: str | None


def _display(uri: str, parts: SplitResult) -> str:
    """The URI with its password replaced by ``***`` (as SQLAlchemy rendered it)."""
    if parts.password is None:
        return uri
    user, _, host = parts.netloc.rpartition("@")
    return uri.replace(parts.netloc, f"{user.partition(':')[0]}:***@{host}", 1)


def parse_uri(uri: str) -> Target:
    """Parse a ``sqlite://`` or ``postgresql://`` URI.

    Args:
        uri: ``sqlite://`` (in memory), ``sqlite:///relative.db``, ``sqlite:////abs.db``,
            ``postgresql://user@host:port/db[?schema=NAME]`` (or ``postgres://``).

    Returns:
        The parsed target.

    Raises:
        ConfigError: the URI cannot be parsed or names an unsupported backend.
        MissingExtraError: a PostgreSQL URI but psycopg is not installed.
    """
    matched = _SCHEME.match(uri) if isinstance(uri, str) else None
    try:
        if matched is None:
            raise ValueError("no scheme")
        parts = urlsplit(uri)
        _ = parts.port  # raises ValueError on a port that is not a number
    except ValueError as exc:
        raise ConfigError(
            f"Cannot parse the metadata store URI {uri!r}. "
            "Use sqlite:///path/to/file.db, sqlite:// or postgresql://user@host:port/db."
        ) from exc
    assert matched is not None
    display = _display(uri, parts)
    backend = matched.group(1).lower().partition("+")[0]  # a driver (+psycopg) is ignored
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "schema"]
    schema = schemas[-1] if schemas else None
    if backend == "sqlite":
        if schema is not None:
            raise ConfigError(
                f"The metadata store URI {display!r} has ?schema=, which only PostgreSQL "
                "supports. Remove it or use a separate SQLite file."
            )
        if query:
            raise ConfigError(
                f"The metadata store URI {display!r} has query parameters "
                f"({', '.join(k for k, _ in query)}), which a SQLite store does not take. "
                "Remove them."
            )
        # sqlite:///rel.db -> "rel.db"; sqlite:////abs.db -> "/abs.db"; sqlite:// -> memory
        path = unquote(parts.path[1:]) if parts.path.startswith("/") else unquote(parts.path)
        memory = path in ("", ":memory:")
        return Target(uri, display, "sqlite", memory, None, None if memory else path)
    if backend in ("postgresql", "postgres"):
        if importlib.util.find_spec("psycopg") is None:
            raise MissingExtraError("postgres", "psycopg")
        if schema is not None and not _SCHEMA_NAME.match(schema):
            raise ConfigError(
                f"The schema {schema!r} in the metadata store URI {display!r} is not a plain "
                "identifier. Use letters, digits and underscores, starting with a letter."
            )
        rest = urlencode([(k, v) for k, v in query if k != "schema"])
        database = urlunsplit(parts._replace(scheme="postgresql", query=rest))
        return Target(uri, display, "postgresql", False, schema, database)
    raise ConfigError(
        f"The metadata store URI {display!r} names the backend {backend!r}, which the SQL "
        "store does not support. Use sqlite:// or postgresql://."
    )


# --- fork safety --------------------------------------------------------------------------


class _ForkAware(Protocol):
    def after_fork_in_child(self) -> None: ...


_FORK_AWARE: weakref.WeakSet[_ForkAware] = weakref.WeakSet()


def track_for_fork(obj: _ForkAware) -> None:
    """Call ``obj.after_fork_in_child()`` in every child process forked from now on."""
    _FORK_AWARE.add(obj)


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


def _driver_errors() -> tuple[type[BaseException], ...]:
    """The base exception classes of the drivers loaded so far."""
    found: list[type[BaseException]] = [sqlite3.Error]
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        found.append(psycopg.Error)
    return tuple(found)


def _is_integrity_error(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.IntegrityError):
        return True
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.IntegrityError)


def _translate(exc: BaseException, action: str, where: str) -> BaseException | None:
    if not isinstance(exc, _driver_errors()):
        return None
    detail = (str(exc).strip() or repr(exc)).splitlines()[0]
    if _is_integrity_error(exc):
        state = getattr(exc, "sqlstate", None)
        full = str(exc).strip()
        if state == "23503" or "FOREIGN KEY" in full:
            return NotFoundError(
                f"Cannot {action} in {where}: it refers to an artifact, execution or context "
                f"id that does not exist ({full}). Pass ids returned by this store."
            )
        if state == "23505" or "UNIQUE" in full:
            return AlreadyExistsError(
                f"Cannot {action} in {where}: an entity with the same identity already "
                f"exists ({full})."
            )
        return StoreError(f"Cannot {action} in {where}: {full}.")
    return StoreError(f"Cannot {action} in the metadata store {where}: {detail}. {_hint(detail)}")


@contextmanager
def translate_errors(action: str, where: str) -> Iterator[None]:
    """Translate driver exceptions raised in the block into Conveyor errors.

    This is the store's only exception boundary: no sqlite3 or psycopg exception leaves the
    store. The original exception is the ``__cause__``.

    Args:
        action: what was being done, e.g. ``"record the execution 'train'"``.
        where: the store URI to show (password hidden).

    Raises:
        NotFoundError: a referenced id does not exist (foreign key violation).
        AlreadyExistsError: a uniqueness constraint was violated.
        StoreError: any other database failure, with a hint on how to fix it.
    """
    try:
        yield
    except Exception as exc:
        translated = _translate(exc, action, where)
        if translated is None:
            raise
        raise translated from exc
