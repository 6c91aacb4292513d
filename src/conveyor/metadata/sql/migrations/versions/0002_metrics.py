"""Scalar metrics by step: the ``metrics`` table for run and task metric histories.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types in models.py at this revision.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_FLOAT = sa.Float(precision=53)


def upgrade() -> None:
    """Create the metrics table and its two indexes."""
    op.create_table(
        "metrics",
        sa.Column("id", _ID, nullable=False),
        sa.Column("context_id", _ID, nullable=True),
        sa.Column("execution_id", _ID, nullable=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("value", _FLOAT, nullable=False),
        sa.Column("timestamp", _FLOAT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_metrics"),
        sa.ForeignKeyConstraint(
            ["context_id"], ["contexts.id"], name="fk_metrics_context_id_contexts"
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"], ["executions.id"], name="fk_metrics_execution_id_executions"
        ),
    )
    op.create_index("ix_metrics_context_id_name_step", "metrics", ["context_id", "name", "step"])
    op.create_index("ix_metrics_execution_id_name", "metrics", ["execution_id", "name"])


def downgrade() -> None:
    """Drop the metrics table (its indexes go with it)."""
    op.drop_table("metrics")
