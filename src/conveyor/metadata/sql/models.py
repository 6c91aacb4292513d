"""SQLAlchemy Core tables of the lineage store: the ML Metadata model on one MetaData."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = [
    "Id",
    "UtcDateTime",
    "artifacts",
    "associations",
    "attributions",
    "contexts",
    "events",
    "executions",
    "metadata",
    "metrics",
    "model_alias_history",
    "model_aliases",
    "model_versions",
    "parent_contexts",
    "registered_models",
    "types",
]


class UtcDateTime(sa.TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back as a timezone-aware UTC datetime.

    SQLite keeps no zone, so the value is written as naive UTC; PostgreSQL uses
    ``timestamp with time zone``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """Convert to UTC (naive on SQLite)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"Timestamps must be timezone-aware, got naive {value!r}.")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]
        return value.astimezone(dt.UTC)  # type: ignore[no-any-return]


# INTEGER PRIMARY KEY is SQLite's rowid alias (fast, auto-assigned); BIGINT elsewhere.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _timestamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    ]


types = sa.Table(
    "types",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # artifact | execution | context
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("version", sa.String(64), nullable=False, server_default=""),
    sa.Column("properties", sa.JSON(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("kind", "name", "version"),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("type_id", Id, sa.ForeignKey("types.id"), nullable=False),
    sa.Column("uri", sa.Text(), nullable=False),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("fingerprint", sa.String(), nullable=True),
    sa.Column("size_bytes", sa.BigInteger(), nullable=True),
    sa.Column("properties", sa.JSON(), nullable=False),
    *_timestamps(),
    sa.Index(None, "type_id"),
)

executions = sa.Table(
    "executions",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("type_id", Id, sa.ForeignKey("types.id"), nullable=False),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("cache_key", sa.String(), nullable=True),
    sa.Column("properties", sa.JSON(), nullable=False),
    *_timestamps(),
    sa.Index(None, "cache_key", "state"),
    sa.Index(None, "name"),
)

contexts = sa.Table(
    "contexts",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("type_id", Id, sa.ForeignKey("types.id"), nullable=False),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("properties", sa.JSON(), nullable=False),
    *_timestamps(),
    sa.UniqueConstraint("type_id", "name"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("artifact_id", Id, sa.ForeignKey("artifacts.id"), nullable=False),
    sa.Column("execution_id", Id, sa.ForeignKey("executions.id"), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("path", sa.String(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index(None, "artifact_id", "type"),
    sa.Index(None, "execution_id", "type"),
)

# Link tables: the primary key serves lookups from the first column, the index the reverse.
attributions = sa.Table(
    "attributions",
    metadata,
    sa.Column("artifact_id", Id, sa.ForeignKey("artifacts.id"), primary_key=True),
    sa.Column("context_id", Id, sa.ForeignKey("contexts.id"), primary_key=True),
    sa.Index(None, "context_id"),
    sqlite_with_rowid=False,
)

associations = sa.Table(
    "associations",
    metadata,
    sa.Column("execution_id", Id, sa.ForeignKey("executions.id"), primary_key=True),
    sa.Column("context_id", Id, sa.ForeignKey("contexts.id"), primary_key=True),
    sa.Index(None, "context_id"),
    sqlite_with_rowid=False,
)

parent_contexts = sa.Table(
    "parent_contexts",
    metadata,
    sa.Column("context_id", Id, sa.ForeignKey("contexts.id"), primary_key=True),
    sa.Column("parent_id", Id, sa.ForeignKey("contexts.id"), primary_key=True),
    sa.Index(None, "parent_id"),
    sqlite_with_rowid=False,
)

# Scalar metrics by step (revision 0002). Timestamps are epoch seconds (a float plots directly
# and costs no conversion on the hot insert path); a row belongs to a run context, an
# execution, or both. The indexes serve a run's history of one metric and a task's metrics.
metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("context_id", Id, sa.ForeignKey("contexts.id"), nullable=True),
    sa.Column("execution_id", Id, sa.ForeignKey("executions.id"), nullable=True),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("step", sa.BigInteger(), nullable=False),
    sa.Column("value", sa.Float(precision=53), nullable=False),
    sa.Column("timestamp", sa.Float(precision=53), nullable=False),
    sa.Index(None, "context_id", "name", "step"),
    sa.Index(None, "execution_id", "name"),
)

# The model registry (revision 0003): named models, their numbered versions (each bound to a
# Model artifact), aliases pointing at versions, and every alias change ever made. History rows
# keep version NUMBERS (immutable per model), so they read without a join and outlive nothing.
registered_models = sa.Table(
    "registered_models",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("tags", sa.JSON(), nullable=False),
    *_timestamps(),
    sa.UniqueConstraint("name"),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("model_id", Id, sa.ForeignKey("registered_models.id"), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("artifact_id", Id, sa.ForeignKey("artifacts.id"), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("tags", sa.JSON(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("model_id", "version"),
    sa.Index(None, "artifact_id"),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("model_id", Id, sa.ForeignKey("registered_models.id"), nullable=False),
    sa.Column("alias", sa.String(), nullable=False),
    sa.Column("version_id", Id, sa.ForeignKey("model_versions.id"), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("model_id", "alias"),
)

model_alias_history = sa.Table(
    "model_alias_history",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("model_id", Id, sa.ForeignKey("registered_models.id"), nullable=False),
    sa.Column("alias", sa.String(), nullable=False),
    sa.Column("from_version", sa.Integer(), nullable=True),  # None: the alias was new
    sa.Column("to_version", sa.Integer(), nullable=True),  # None: the alias was deleted
    sa.Column("changed_at", UtcDateTime(), nullable=False),
    sa.Column("actor", sa.String(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("forced", sa.Boolean(), nullable=False),
    sa.Index("ix_model_alias_history_time", "model_id", "alias", "changed_at"),
)
