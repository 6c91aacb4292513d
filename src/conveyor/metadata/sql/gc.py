"""The queries of garbage collection (``conveyor gc``): which executions belong to runs, and
which artifact rows share a URI. Plain SQL on the store's connection; a store that is not a
SQL store is answered through the :class:`MetadataStore` protocol (slower, same answer)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from conveyor.metadata.sql._base import SqlStoreBase
from conveyor.metadata.sql._records import chunks, marks
from conveyor.metadata.store import MetadataStore

__all__ = ["artifacts_at_uris", "executions_of_contexts"]


def executions_of_contexts(metadata: MetadataStore, context_ids: Iterable[int]) -> dict[int, int]:
    """``{execution_id: context_id}`` of every execution associated with one of the contexts
    (a run's executions: its run context is one of theirs)."""
    ids: Sequence[int] = sorted(set(context_ids))
    found: dict[int, int] = {}
    if not ids:
        return found
    if not isinstance(metadata, SqlStoreBase):
        for cid in ids:
            for ex in metadata.list_executions(context_id=cid):
                found[ex.id] = cid
        return found
    with metadata._read("list the executions of runs") as conn:
        for part in chunks(ids):
            rows: list[Any] = conn.execute(
                "SELECT execution_id, context_id FROM associations "
                f"WHERE context_id IN ({marks(len(part))})",
                list(part),
            ).fetchall()
            found.update({int(r[0]): int(r[1]) for r in rows})
    return found


def artifacts_at_uris(metadata: MetadataStore, uris: Iterable[str]) -> dict[str, list[int]]:
    """``{uri: [artifact ids]}``: every artifact row recorded at one of ``uris``."""
    wanted = sorted(set(uris))
    found: dict[str, list[int]] = {u: [] for u in wanted}
    if not wanted:
        return found
    if not isinstance(metadata, SqlStoreBase):
        for art in metadata.list_artifacts():
            if art.uri in found:
                found[art.uri].append(art.id)
        return found
    with metadata._read("find artifacts by URI") as conn:
        for start in range(0, len(wanted), 1000):
            part = wanted[start : start + 1000]
            rows: list[Any] = conn.execute(
                f"SELECT id, uri FROM artifacts WHERE uri IN ({marks(len(part))}) ORDER BY id",
                part,
            ).fetchall()
            for r in rows:
                found[str(r[1])].append(int(r[0]))
    return found
