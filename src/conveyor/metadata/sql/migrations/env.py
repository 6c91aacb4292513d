"""Alembic environment of the lineage store: migrates the connection Conveyor hands over."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from conveyor.metadata.sql.models import metadata


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        # Conveyor's path (conveyor.metadata.sql._migrate): a connection in an open
        # transaction that already holds the migration lock; the caller commits.
        _run(connection)
        return
    # The alembic command line (e.g. `alembic revision --autogenerate` while developing):
    # the store URI comes from -x uri=... or sqlalchemy.url.
    from conveyor.metadata.sql._engine import parse_uri
    from conveyor.metadata.sql._sa import create_engine

    uri = context.get_x_argument(as_dictionary=True).get("uri") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not uri:
        raise SystemExit("Pass the store URI: alembic -x uri=sqlite:///path.db ...")
    engine = create_engine(parse_uri(uri))
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


# Alembic runs this file for each command; any other import (a doctest collector, say) is a no-op.
if hasattr(context, "config"):
    _main()
