"""Schema migrations of the SQL lineage store: a cheap revision check, Alembic only when needed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import sqlalchemy as sa

from conveyor.errors import StoreError
from conveyor.metadata.sql._engine import WRITE

if TYPE_CHECKING:
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

REVISIONS = ("0001", "0002")
"""Every schema revision, oldest first (a test checks them against the migration scripts)."""

HEAD_REVISION = REVISIONS[-1]
"""The schema revision this version of Conveyor reads and writes."""

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# pg_advisory_xact_lock key serialising migrations of one PostgreSQL database ("conv").
_PG_LOCK_KEY = 0x636F6E76


@contextmanager
def _migration_lock(engine: sa.Engine, schema: str | None) -> Iterator[sa.Connection]:
    """A write transaction that holds the migration lock: SQLite's write lock (BEGIN
    IMMEDIATE), or a PostgreSQL transaction-scoped advisory lock (creating ``schema``)."""
    with engine.connect() as conn:
        conn.execution_options(**{WRITE: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
                if schema is not None:
                    conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            yield conn


def current_revision(conn: sa.Connection) -> str | None:
    """The schema revision recorded in the database, or None for an empty database."""
    if conn.dialect.name == "sqlite":
        exists = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).first()
    else:
        exists = conn.exec_driver_sql("SELECT to_regclass('alembic_version')").scalar()
    if not exists:
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


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

    with _migration_lock(engine, schema) as conn:
        if direction == "upgrade":
            target = HEAD_REVISION if revision == "head" else revision
            if current_revision(conn) == target:
                return
            command.upgrade(alembic_config(conn), revision)
        else:
            command.downgrade(alembic_config(conn), revision)


def create_fresh(engine: sa.Engine, *, schema: str | None = None) -> bool:
    """Create the head schema in an EMPTY database directly, then stamp it (Alembic's
    "create_all, then stamp head" recipe): a new store costs milliseconds, not an Alembic run.

    Returns False (and does nothing) when the database is not empty; migrate it instead.
    A test checks that this schema and the one the migration scripts build are identical.
    """
    from conveyor.metadata.sql.models import metadata

    with _migration_lock(engine, schema) as conn:
        if current_revision(conn) is not None:
            return False
        existing = set(sa.inspect(conn).get_table_names())
        if existing & set(metadata.tables):
            return False
        metadata.create_all(conn, checkfirst=False)
        conn.exec_driver_sql(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        )
        conn.execute(
            sa.text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
            {"v": HEAD_REVISION},
        )
    return True


def ensure_schema(engine: sa.Engine, *, schema: str | None = None) -> None:
    """Create or upgrade the store's tables unless they are already at the head revision.

    The common case (an up-to-date database) costs one small read and never imports Alembic;
    an empty database gets the head schema directly (:func:`create_fresh`).

    Raises:
        StoreError: the database was written by a newer Conveyor.
    """
    with engine.connect() as conn, conn.begin():
        revision = current_revision(conn)
    if revision == HEAD_REVISION:
        return
    if revision is not None and revision not in REVISIONS:
        raise StoreError(
            f"The metadata database is at schema revision {revision!r}, newer than this "
            f"Conveyor understands (head {HEAD_REVISION!r}). Upgrade conveyor-ml."
        )
    if revision is None and create_fresh(engine, schema=schema):
        return
    migrate(engine, "head", schema=schema)
