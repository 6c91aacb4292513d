"""Initial lineage schema: types, artifacts, executions, contexts, events and their links.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types in models.py at this revision.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def _id() -> sa.Column[int]:
    return sa.Column("id", _ID, nullable=False)


def upgrade() -> None:
    """Create the tables and indexes."""
    op.create_table(
        "types",
        _id(),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("version", sa.String(64), nullable=False, server_default=""),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_types"),
        sa.UniqueConstraint("kind", "name", "version", name="uq_types_kind_name_version"),
    )
    op.create_table(
        "artifacts",
        _id(),
        sa.Column("type_id", _ID, nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_artifacts"),
        sa.ForeignKeyConstraint(["type_id"], ["types.id"], name="fk_artifacts_type_id_types"),
    )
    op.create_index("ix_artifacts_type_id", "artifacts", ["type_id"])
    op.create_table(
        "executions",
        _id(),
        sa.Column("type_id", _ID, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("cache_key", sa.String(), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_executions"),
        sa.ForeignKeyConstraint(["type_id"], ["types.id"], name="fk_executions_type_id_types"),
    )
    op.create_index("ix_executions_cache_key_state", "executions", ["cache_key", "state"])
    op.create_index("ix_executions_name", "executions", ["name"])
    op.create_table(
        "contexts",
        _id(),
        sa.Column("type_id", _ID, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_contexts"),
        sa.UniqueConstraint("type_id", "name", name="uq_contexts_type_id_name"),
        sa.ForeignKeyConstraint(["type_id"], ["types.id"], name="fk_contexts_type_id_types"),
    )
    op.create_table(
        "events",
        _id(),
        sa.Column("artifact_id", _ID, nullable=False),
        sa.Column("execution_id", _ID, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(
            ["artifact_id"], ["artifacts.id"], name="fk_events_artifact_id_artifacts"
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"], ["executions.id"], name="fk_events_execution_id_executions"
        ),
    )
    op.create_index("ix_events_artifact_id_type", "events", ["artifact_id", "type"])
    op.create_index("ix_events_execution_id_type", "events", ["execution_id", "type"])
    _link_table("attributions", "artifact_id", "artifacts", "context_id", "contexts")
    _link_table("associations", "execution_id", "executions", "context_id", "contexts")
    _link_table("parent_contexts", "context_id", "contexts", "parent_id", "contexts")


def _link_table(name: str, first: str, first_table: str, second: str, second_table: str) -> None:
    op.create_table(
        name,
        sa.Column(first, _ID, nullable=False),
        sa.Column(second, _ID, nullable=False),
        sa.PrimaryKeyConstraint(first, second, name=f"pk_{name}"),
        sa.ForeignKeyConstraint(
            [first], [f"{first_table}.id"], name=f"fk_{name}_{first}_{first_table}"
        ),
        sa.ForeignKeyConstraint(
            [second], [f"{second_table}.id"], name=f"fk_{name}_{second}_{second_table}"
        ),
        sqlite_with_rowid=False,
    )
    op.create_index(f"ix_{name}_{second}", name, [second])


def downgrade() -> None:
    """Drop everything."""
    for name in ("parent_contexts", "associations", "attributions", "events"):
        op.drop_table(name)
    for name in ("contexts", "executions", "artifacts", "types"):
        op.drop_table(name)
