"""Garbage collection: the bytes of archived and deleted runs' artifacts that nothing kept
still needs.

An artifact is *garbage* when a run that is archived or deleted produced it and:

- no execution outside those runs has an event on it (a kept run's step that read it, or a
  CACHED execution that reused it: a cache hit records OUTPUT events to what it reuses);
- no registered model version is bound to it, nor to anything downstream of it (a model's
  upstream lineage is kept whole);
- its URI is under the artifact root (an importer's artifact naming the user's own file is
  never touched), and no kept artifact row shares that URI.

Collecting marks the artifacts ``DELETED`` first (metadata rows and lineage stay; a later cache
lookup misses cleanly), then removes their bytes, and the step logs of deleted runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from conveyor._internal.paths import is_remote, is_under
from conveyor.metadata.entities import ArtifactRecord, ArtifactState, EventRecord
from conveyor.metadata.registry import ModelRegistry
from conveyor.metadata.sql.gc import artifacts_at_uris, executions_of_contexts
from conveyor.metadata.store import (
    CONTEXT_RUN,
    LIFECYCLE,
    LIFECYCLE_ARCHIVED,
    LIFECYCLE_DELETED,
    MetadataStore,
)
from conveyor.operations.runs import RUNNING, find_run
from conveyor.storage import ArtifactStore

__all__ = ["GarbageArtifact", "GcPlan", "collect_garbage", "plan_gc"]

_GONE = (LIFECYCLE_ARCHIVED, LIFECYCLE_DELETED)


@dataclass(frozen=True)
class GarbageArtifact:
    """An artifact whose bytes ``gc`` deletes."""

    id: int
    type: str
    run_id: str
    uri: str
    bytes: int


@dataclass(frozen=True)
class GarbageLog:
    """The step-log folder of a deleted run."""

    run_id: str
    path: str
    bytes: int


@dataclass(frozen=True)
class GcPlan:
    """What ``gc`` deletes (or deleted): artifacts, log folders, and their total size."""

    artifacts: tuple[GarbageArtifact, ...] = ()
    logs: tuple[GarbageLog, ...] = ()
    runs: tuple[str, ...] = ()
    """The archived and deleted runs looked at."""
    kept: int = 0
    """Artifacts of those runs kept because something kept still needs them."""
    collected: bool = False
    errors: tuple[str, ...] = field(default=())

    @property
    def total_bytes(self) -> int:
        """Bytes of the artifacts and the logs."""
        return sum(a.bytes for a in self.artifacts) + sum(g.bytes for g in self.logs)

    def as_dict(self) -> dict[str, Any]:
        """The plan as JSON (what ``--json`` and the API give)."""
        return {
            "artifacts": [asdict(a) for a in self.artifacts],
            "logs": [asdict(g) for g in self.logs],
            "runs": list(self.runs),
            "kept": self.kept,
            "artifact_count": len(self.artifacts),
            "artifact_bytes": sum(a.bytes for a in self.artifacts),
            "total_bytes": self.total_bytes,
            "collected": self.collected,
            "errors": list(self.errors),
        }


_CHUNK = 5000
"""Ids per store call (each backend bounds the parameters of one statement)."""


def _events(metadata: MetadataStore, by: str, ids: list[int]) -> list[EventRecord]:
    """``get_events`` of many executions or artifacts, a chunk of ids at a time."""
    found: list[EventRecord] = []
    for start in range(0, len(ids), _CHUNK):
        part = ids[start : start + _CHUNK]
        if by == "execution_ids":
            found += metadata.get_events(execution_ids=part)
        else:
            found += metadata.get_events(artifact_ids=part)
    return found


def _size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            full = os.path.join(folder, name)
            if not os.path.islink(full):
                with contextlib.suppress(OSError):
                    total += os.path.getsize(full)
    return total


def _under_root(storage: ArtifactStore, uri: str) -> bool:
    """Whether ``uri`` lies strictly inside the artifact root (symlinks resolved)."""
    root = storage.root
    if is_remote(root) or is_remote(uri):
        prefix = root.rstrip("/") + "/"
        return uri.startswith(prefix) and ".." not in uri[len(prefix) :].split("/")
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    real_root = os.path.realpath(root)
    return is_under(root, uri) and os.path.realpath(uri) != real_root


def _model_protected(metadata: MetadataStore) -> set[int]:
    """Artifacts bound to a registered model version, and everything upstream of them."""
    if not isinstance(metadata, ModelRegistry):
        return set()
    protected: set[int] = set()
    for model in metadata.list_models():
        for version in metadata.list_model_versions(model.name):
            protected.add(version.artifact_id)
            graph = metadata.lineage(version.artifact_id, "upstream")
            protected.update(a.id for a in graph.artifacts)
    return protected


def _artifact_bytes(storage: ArtifactStore, art: ArtifactRecord) -> int:
    if art.size_bytes is not None:
        return int(art.size_bytes)
    if is_remote(art.uri):
        return 0
    return _size(art.uri) if os.path.exists(art.uri) else 0


def plan_gc(
    metadata: MetadataStore,
    storage: ArtifactStore,
    *,
    home: str | None = None,
    only_runs: Collection[str] | None = None,
) -> GcPlan:
    """What ``gc`` would delete now.

    Args:
        metadata: the lineage store.
        storage: the artifact store (only URIs under its root are ever deleted).
        home: Conveyor's home: the step logs of deleted runs (``<home>/logs/<run>``) count.
        only_runs: restrict the plan to the artifacts of these runs, counting them as deleted
            even if they are not yet (what deleting them would free).
    """
    targets = {find_run(metadata, r).id for r in only_runs or ()}
    gone: dict[int, str] = {}
    deleted: set[int] = set()
    for ctx in metadata.list_contexts(CONTEXT_RUN):
        life = ctx.properties.get(LIFECYCLE)
        if ctx.properties.get("state") == RUNNING:
            continue  # an archived run being retried: it uses its artifacts now
        if life in _GONE or ctx.id in targets:
            gone[ctx.id] = ctx.name
            if life == LIFECYCLE_DELETED or ctx.id in targets:
                deleted.add(ctx.id)
    sources = {cid: name for cid, name in gone.items() if only_runs is None or cid in targets}
    dead_executions = executions_of_contexts(metadata, gone)
    produced: dict[int, str] = {}  # artifact -> the run whose execution output it
    source_executions = [e for e, c in dead_executions.items() if c in sources]
    for event in _events(metadata, "execution_ids", source_executions):
        if event.type.is_output:
            produced.setdefault(event.artifact_id, sources[dead_executions[event.execution_id]])
    needed: set[int] = set()
    for event in _events(metadata, "artifact_ids", list(produced)):
        if event.execution_id not in dead_executions:
            needed.add(event.artifact_id)  # a kept run, a cache hit, or no run at all
    if produced:
        needed |= _model_protected(metadata) & set(produced)
    remaining = sorted(set(produced) - needed)
    candidates = [
        a
        for start in range(0, len(remaining), _CHUNK)
        for a in metadata.get_artifacts(remaining[start : start + _CHUNK])
        if a.state != ArtifactState.DELETED and _under_root(storage, a.uri)
    ]
    chosen = {a.id for a in candidates}
    sharing = artifacts_at_uris(metadata, (a.uri for a in candidates))
    garbage = [a for a in candidates if all(i in chosen for i in sharing.get(a.uri, [a.id]))]
    artifacts = tuple(
        GarbageArtifact(a.id, a.type_name, produced[a.id], a.uri, _artifact_bytes(storage, a))
        for a in garbage
    )
    logs: list[GarbageLog] = []
    if home is not None:
        log_root = os.path.join(os.path.abspath(home), "logs")
        for cid in sorted(deleted):
            if cid not in sources:
                continue
            path = os.path.join(log_root, gone[cid])
            if os.path.isdir(path) and is_under(log_root, path) and path != log_root:
                logs.append(GarbageLog(gone[cid], path, _size(path)))
    kept = len(set(produced)) - len(artifacts)
    return GcPlan(artifacts, tuple(logs), tuple(sorted(sources.values())), kept)


def _remove(storage: ArtifactStore, uri: str) -> None:
    if is_remote(uri):
        fs = getattr(storage, "fs", None)
        if fs is not None and fs.exists(uri):
            fs.rm(uri, recursive=True)
        return
    path = uri[len("file://") :] if uri.startswith("file://") else uri
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def collect_garbage(
    metadata: MetadataStore, storage: ArtifactStore, *, home: str | None = None
) -> GcPlan:
    """Plan, then delete: artifacts marked ``DELETED`` first, then their bytes and the logs.

    Returns the plan carried out (``collected``), with the paths that could not be removed in
    ``errors`` (their artifacts stay marked DELETED: nothing will reuse them).
    """
    plan = plan_gc(metadata, storage, home=home)
    if plan.artifacts:
        metadata.set_artifact_state([a.id for a in plan.artifacts], ArtifactState.DELETED)
    errors: list[str] = []
    for uri in _unique(a.uri for a in plan.artifacts):
        try:
            _remove(storage, uri)
        except OSError as exc:
            errors.append(f"{uri}: {exc}")
    for log in plan.logs:
        try:
            shutil.rmtree(log.path)
        except OSError as exc:
            errors.append(f"{log.path}: {exc}")
    return GcPlan(plan.artifacts, plan.logs, plan.runs, plan.kept, True, tuple(errors))


def _unique(values: Iterable[str]) -> list[str]:
    return sorted(set(values))
