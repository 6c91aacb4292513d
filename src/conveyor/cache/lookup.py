"""Cache lookup: reuse an earlier execution only if every output is live and its bytes match."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from conveyor.errors import ArtifactNotFoundError
from conveyor.metadata.entities import (
    ArtifactRecord,
    ArtifactState,
    EventType,
    ExecutionRecord,
)
from conveyor.metadata.store import MetadataStore
from conveyor.storage.store import ArtifactStore

__all__ = ["CacheHit", "CacheLookup", "find_cache_hit"]


@dataclass(frozen=True)
class CacheHit:
    """A reusable execution and its output artifacts by output key."""

    execution: ExecutionRecord
    outputs: dict[str, ArtifactRecord] = field(default_factory=dict)


@dataclass(frozen=True)
class CacheLookup:
    """Result of a lookup: a hit, or None with the reason for the miss."""

    hit: CacheHit | None
    reason: str


def find_cache_hit(
    metadata: MetadataStore,
    storage: ArtifactStore,
    cache_key: str,
    output_keys: Collection[str],
    *,
    verify_bytes: bool = True,
    mark_abandoned: bool = True,
) -> CacheLookup:
    """Find a reusable execution for ``cache_key``.

    A candidate is reused only if it has every output in ``output_keys``, each artifact is
    LIVE, and (with ``verify_bytes``) the bytes at its URI still hash to the recorded digest.
    Artifacts whose bytes changed or vanished are marked ABANDONED (unless
    ``mark_abandoned`` is false, as in a dry run) so they are never reused.
    """
    execution = metadata.find_cached_execution(cache_key)
    if execution is None:
        return CacheLookup(None, "no completed execution with this cache key")
    events = metadata.get_events(execution_ids=[execution.id])
    by_id = {e.artifact_id: e.path for e in events if e.type == EventType.OUTPUT}
    artifacts = {by_id[a.id]: a for a in metadata.get_artifacts(by_id)}
    missing = sorted(set(output_keys) - set(artifacts))
    if missing:
        return CacheLookup(None, f"execution {execution.id} has no recorded output(s) {missing!r}")
    for key in sorted(output_keys):
        art = artifacts[key]
        if art.state != ArtifactState.LIVE:
            return CacheLookup(
                None, f"output {key!r} of execution {execution.id} is {art.state.value}"
            )
        if not verify_bytes:
            continue
        try:
            current = storage.fingerprint(art.uri)
        except ArtifactNotFoundError:
            if mark_abandoned:
                metadata.set_artifact_state([art.id], ArtifactState.ABANDONED)
            return CacheLookup(
                None, f"output {key!r} of execution {execution.id} is gone from {art.uri!r}"
            )
        if art.fingerprint is not None and current.digest != art.fingerprint:
            if mark_abandoned:
                metadata.set_artifact_state([art.id], ArtifactState.ABANDONED)
            return CacheLookup(
                None,
                f"output {key!r} of execution {execution.id} was modified at {art.uri!r} "
                "(bytes no longer match the recorded digest)",
            )
    hit = CacheHit(execution, {k: artifacts[k] for k in output_keys})
    return CacheLookup(hit, f"reusing execution {execution.id}")
