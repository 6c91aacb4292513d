"""Schema of the SQL lineage store: a cheap revision check, the head schema from embedded DDL
for a new database, Alembic (and SQLAlchemy) only when an older database must be migrated."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

from conveyor.errors import StoreError
from conveyor.metadata.sql._db import Conn, Database

if TYPE_CHECKING:
    import sqlalchemy as sa
    from alembic.config import Config

__all__ = [
    "HEAD_REVISION",
    "MIGRATIONS_DIR",
    "REVISIONS",
    "alembic_config",
    "create_fresh",
    "current_revision",
    "ensure_schema",
    "migrate",
]

REVISIONS = ("0001", "0002", "0003")
"""Every schema revision, oldest first (a test checks them against the migration scripts)."""

HEAD_REVISION = REVISIONS[-1]
"""The schema revision this version of Conveyor reads and writes."""

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")

# pg_advisory_xact_lock key serialising migrations of one PostgreSQL database ("conv").
_PG_LOCK_KEY = 0x636F6E76

# What Alembic creates to record the revision (kept identical: Alembic reads it later).
_VERSION_TABLE = (
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
    "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
)


def _lock(conn: Conn, schema: str | None) -> None:
    """Take PostgreSQL's migration lock (transaction-scoped) and create ``schema``; on SQLite
    the write transaction (BEGIN IMMEDIATE) already is the lock."""
    if not conn.sqlite:
        conn.execute(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
        if schema is not None:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')


def current_revision(conn: Conn) -> str | None:
    """The schema revision recorded in the database, or None for an empty database."""
    if conn.sqlite:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).fetchone()
    else:
        exists = conn.execute("SELECT to_regclass('alembic_version')").fetchone()[0]
    if not exists:
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return None if row is None else str(row[0])


def _table_names(conn: Conn) -> set[str]:
    if conn.sqlite:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    else:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
    return {name for (name,) in rows}


@contextmanager
def _sa_migration_lock(engine: sa.Engine, schema: str | None) -> Iterator[sa.Connection]:
    """A SQLAlchemy write transaction holding the migration lock (for Alembic)."""
    from conveyor.metadata.sql._sa import WRITE

    with engine.connect() as conn:
        conn.execution_options(**{WRITE: True})
        with conn.begin():
            _lock(_driver(conn), schema)
            yield conn


def _driver(conn: sa.Connection) -> Conn:
    """The store's view of a SQLAlchemy connection's driver connection (same transaction)."""
    return Conn(conn.connection.driver_connection, conn.dialect.name == "sqlite")


def alembic_config(conn: sa.Connection) -> Config:
    """An Alembic configuration that runs the store's migrations on ``conn`` (no alembic.ini).

    The connection must already be in a transaction; the caller commits.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = conn
    return config


def migrate(
    engine: sa.Engine,
    revision: str = "head",
    *,
    direction: Literal["upgrade", "downgrade"] = "upgrade",
    schema: str | None = None,
) -> None:
    """Run Alembic to ``revision`` in one transaction that holds the migration lock.

    On SQLite the lock is the database write lock (``BEGIN IMMEDIATE``); on PostgreSQL a
    transaction-scoped advisory lock. Concurrent callers therefore migrate one after the other,
    and each re-reads the revision under the lock, so only the first one does any work.

    Args:
        engine: the store's engine.
        revision: target revision (``"head"``, ``"base"`` or an id).
        direction: ``"upgrade"`` or ``"downgrade"``.
        schema: PostgreSQL schema to create first, if missing.
    """
    from alembic import command

    with _sa_migration_lock(engine, schema) as conn:
        if direction == "upgrade":
            target = HEAD_REVISION if revision == "head" else revision
            if current_revision(_driver(conn)) == target:
                return
            command.upgrade(alembic_config(conn), revision)
        else:
            command.downgrade(alembic_config(conn), revision)


def create_fresh(db: Database) -> bool:
    """Create the head schema in an EMPTY database from the embedded DDL (``_schema.py``), then
    stamp it as Alembic would: a new store costs milliseconds, and imports no SQLAlchemy.

    Returns False (and does nothing) when the database is not empty; migrate it instead.
    A test checks that this schema and the one the migration scripts build are identical.
    """
    from conveyor.metadata.sql._schema import DDL, TABLES

    with db.transaction(write=True) as conn:
        _lock(conn, db.target.schema)
        if current_revision(conn) is not None:
            return False
        if _table_names(conn) & set(TABLES):
            return False
        for statement in DDL[db.target.backend]:
            conn.execute(statement)
        conn.execute(_VERSION_TABLE)
        conn.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (HEAD_REVISION,))
    return True


def ensure_schema(db: Database) -> None:
    """Create or upgrade the store's tables unless they are already at the head revision.

    The common case (an up-to-date database) costs one small read; an empty database gets the
    head schema directly (:func:`create_fresh`). Only an older database imports SQLAlchemy and
    Alembic, to run the migration scripts.

    Raises:
        StoreError: the database was written by a newer Conveyor.
    """
    with db.transaction(write=False) as conn:
        revision = current_revision(conn)
    if revision == HEAD_REVISION:
        return
    if revision is not None and revision not in REVISIONS:
        raise StoreError(
            f"The metadata database is at schema revision {revision!r}, newer than this "
            f"Conveyor understands (head {HEAD_REVISION!r}). Upgrade conveyor-ml."
        )
    if revision is None and create_fresh(db):
        return
    from conveyor.metadata.sql._sa import create_engine

    engine = create_engine(db.target)
    try:
        migrate(engine, "head", schema=db.target.schema)
    finally:
        engine.dispose()
