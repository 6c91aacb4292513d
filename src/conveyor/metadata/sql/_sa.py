"""A SQLAlchemy engine on a store's database, for Alembic migrations only.

The store itself talks to the drivers directly (:mod:`conveyor.metadata.sql._db`); this module,
and with it SQLAlchemy, is imported only when a database at an older revision must be migrated
(and by the ``alembic`` command line and tests). The engine uses the store's connection setup
(SQLite pragmas and WAL, PostgreSQL search_path) and begins write transactions with
``BEGIN IMMEDIATE`` on SQLite when its connection has the :data:`WRITE` execution option.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import StaticPool

from conveyor.metadata.sql import _engine
from conveyor.metadata.sql._db import configure_sqlite
from conveyor.metadata.sql._engine import Target, json_dumps

__all__ = ["WRITE", "create_engine"]

WRITE = "conveyor_write"
"""Execution option: a transaction that writes (``BEGIN IMMEDIATE`` on SQLite)."""


def create_engine(target: Target) -> sa.Engine:
    """A SQLAlchemy engine on a target (nothing is connected yet).

    Args:
        target: from :func:`conveyor.metadata.sql._engine.parse_uri`.
    """
    if target.backend == "postgresql":
        connect_args: dict[str, Any] = {}
        if target.schema is not None:
            connect_args["options"] = f"-c search_path={target.schema}"
        url = str(target.database).replace("postgresql://", "postgresql+psycopg://", 1)
        return sa.create_engine(url, json_serializer=json_dumps, connect_args=connect_args)

    if target.memory:
        engine = sa.create_engine(
            "sqlite://",
            json_serializer=json_dumps,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
        )
    else:
        path = str(Path(str(target.database)).expanduser())
        engine = sa.create_engine(
            sa.URL.create("sqlite", database=path),
            json_serializer=json_dumps,
            connect_args={"check_same_thread": False, "timeout": _engine.BUSY_TIMEOUT_MS / 1000},
        )
    memory = target.memory

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver (documented SQLAlchemy recipe): the
        # "begin" hook below decides between BEGIN and BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        configure_sqlite(dbapi_connection, memory)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        begin = "BEGIN IMMEDIATE" if connection.get_execution_options().get(WRITE) else "BEGIN"
        connection.connection.driver_connection.execute(begin)  # type: ignore[union-attr]

    return engine
