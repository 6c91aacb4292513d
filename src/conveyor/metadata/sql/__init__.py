"""The SQL lineage store (SQLite, PostgreSQL) on the DB-API drivers, with Alembic migrations."""

from conveyor.metadata.sql._migrate import HEAD_REVISION
from conveyor.metadata.sql.store import SqlMetadataStore

__all__ = ["HEAD_REVISION", "SqlMetadataStore"]
