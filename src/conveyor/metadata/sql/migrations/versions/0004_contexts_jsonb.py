"""Context properties as ``jsonb`` on PostgreSQL (SQLite is unchanged).

The runs search (``run_search.py``) filters and sorts on run properties; a ``json`` column is
text that PostgreSQL parses again for every operator on every row, ``jsonb`` is parsed once
when written. Keys of a ``jsonb`` object come back in PostgreSQL's order, not the order
written: Conveyor never relies on the order of a properties object.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """``contexts.properties`` becomes ``jsonb`` on PostgreSQL."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column(
        "contexts",
        "properties",
        type_=postgresql.JSONB(),
        existing_type=sa.JSON(),
        existing_nullable=False,
        postgresql_using="properties::jsonb",
    )


def downgrade() -> None:
    """Back to ``json`` text."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column(
        "contexts",
        "properties",
        type_=sa.JSON(),
        existing_type=postgresql.JSONB(),
        existing_nullable=False,
        postgresql_using="properties::json",
    )
