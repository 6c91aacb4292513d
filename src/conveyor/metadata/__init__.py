"""Lineage metadata: entities, the MetadataStore protocol and ``connect(uri)``.

Importing this package is cheap: the SQL backend (and SQLAlchemy) load on the first ``connect``.
"""

from __future__ import annotations

from conveyor.errors import ConfigError
from conveyor.metadata.entities import (
    ArtifactRecord,
    ArtifactState,
    ContextRecord,
    EventRecord,
    EventType,
    ExecutionRecord,
    ExecutionState,
    LineageGraph,
    NewArtifact,
)
from conveyor.metadata.store import (
    CONTEXT_EXPERIMENT,
    CONTEXT_PIPELINE,
    CONTEXT_PIPELINE_VERSION,
    CONTEXT_RUN,
    LIFECYCLE,
    LIFECYCLE_ARCHIVED,
    LIFECYCLE_DELETED,
    MetadataStore,
)

__all__ = [
    "CONTEXT_EXPERIMENT",
    "CONTEXT_PIPELINE",
    "CONTEXT_PIPELINE_VERSION",
    "CONTEXT_RUN",
    "LIFECYCLE",
    "LIFECYCLE_ARCHIVED",
    "LIFECYCLE_DELETED",
    "ArtifactRecord",
    "ArtifactState",
    "ContextRecord",
    "EventRecord",
    "EventType",
    "ExecutionRecord",
    "ExecutionState",
    "LineageGraph",
    "MetadataStore",
    "NewArtifact",
    "connect",
]

_SQL_SCHEMES = frozenset({"sqlite", "postgresql", "postgres"})
_ENTRY_POINT_GROUP = "conveyor.metadata_stores"


def connect(uri: str) -> MetadataStore:
    """Open the lineage store at ``uri``, creating or upgrading its tables if needed.

    Built-in schemes: ``sqlite://`` (in memory, for tests), ``sqlite:///relative/path.db``,
    ``sqlite:////absolute/path.db`` and ``postgresql://user@host:port/db[?schema=NAME]``.
    Other schemes are looked up in the ``conveyor.metadata_stores`` entry-point group, whose
    entries are called with the URI. In a process forked from one holding a store, call
    ``connect`` again (a store inherited through ``fork`` also works: it reconnects).

    Args:
        uri: where the store lives.

    Returns:
        An open store; call ``close()`` when done.

    Raises:
        ConfigError: the URI's scheme is unknown.
        MissingExtraError: the backend needs an optional package (``conveyor-ml[postgres]``).
        StoreError: the database cannot be reached or migrated.

    Example:
        >>> store = connect("sqlite://")
        >>> store.put_context(CONTEXT_PIPELINE, "demo").name
        'demo'
    """
    scheme = uri.partition(":")[0].partition("+")[0].lower()
    if scheme in _SQL_SCHEMES:
        from conveyor.metadata.sql.store import SqlMetadataStore

        return SqlMetadataStore(uri)

    from importlib.metadata import entry_points

    found = entry_points(group=_ENTRY_POINT_GROUP, name=scheme)
    if not found:
        raise ConfigError(
            f"No metadata store handles the URI scheme {scheme!r} (from {uri.split('@')[-1]!r})."
            " Use sqlite:///path.db, sqlite:// or postgresql://user@host:port/db, or install "
            f"a plugin registering {scheme!r} in the {_ENTRY_POINT_GROUP!r} entry-point group."
        )
    factory = next(iter(found)).load()
    store: MetadataStore = factory(uri)
    return store
