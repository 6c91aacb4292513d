"""Archive, restore and delete runs: the ``lifecycle`` property of a run's context."""

from __future__ import annotations

import time
from typing import Any

from conveyor.errors import NotFoundError
from conveyor.metadata.entities import ContextRecord
from conveyor.metadata.store import (
    CONTEXT_RUN,
    LIFECYCLE,
    LIFECYCLE_ARCHIVED,
    LIFECYCLE_DELETED,
    MetadataStore,
)
from conveyor.operations.errors import ActionConflict

__all__ = ["RUNNING", "archive_run", "delete_run", "find_run", "lifecycle_of", "restore_run"]

RUNNING = "RUNNING"


def find_run(metadata: MetadataStore, run_id: str) -> ContextRecord:
    """The run context named ``run_id``.

    Raises:
        NotFoundError: no run has this id.
    """
    found = metadata.find_context(CONTEXT_RUN, run_id)
    if found is None:
        raise NotFoundError(
            f"No run {run_id!r} in the metadata store. List runs: conveyor runs list"
        )
    return found


def lifecycle_of(run: ContextRecord) -> str:
    """``"active"``, ``"archived"`` or ``"deleted"``."""
    value = run.properties.get(LIFECYCLE)
    return value if value in (LIFECYCLE_ARCHIVED, LIFECYCLE_DELETED) else "active"


def _not_running(run: ContextRecord, action: str) -> None:
    if run.properties.get("state") == RUNNING:
        raise ActionConflict(
            f"Run {run.name!r} is RUNNING and cannot be {action}",
            f"Terminate it first: conveyor runs terminate {run.name}",
        )


def _summary(run: ContextRecord) -> dict[str, Any]:
    return {
        "run_id": run.name,
        "state": run.properties.get("state"),
        "lifecycle": lifecycle_of(run),
    }


def archive_run(metadata: MetadataStore, run_id: str) -> dict[str, Any]:
    """Hide a run from the default lists (everything is kept; :func:`restore_run` undoes it).

    Raises:
        NotFoundError: no such run.
        ActionConflict: the run is RUNNING, or deleted (restore it first).
    """
    run = find_run(metadata, run_id)
    _not_running(run, "archived")
    if lifecycle_of(run) == LIFECYCLE_DELETED:
        raise ActionConflict(
            f"Run {run_id!r} is deleted", f"Restore it first: conveyor runs restore {run_id}"
        )
    run = metadata.update_context(
        run.id, {LIFECYCLE: LIFECYCLE_ARCHIVED, "archived_at": time.time()}
    )
    return _summary(run)


def restore_run(metadata: MetadataStore, run_id: str) -> dict[str, Any]:
    """Bring an archived or deleted run back to the lists (its artifacts that ``gc`` already
    collected stay gone: they are marked DELETED and a rerun recomputes them)."""
    run = find_run(metadata, run_id)
    run = metadata.update_context(
        run.id,
        {LIFECYCLE: None, "archived_at": None, "deleted_at": None, "restored_at": time.time()},
    )
    return _summary(run)


def delete_run(metadata: MetadataStore, run_id: str) -> dict[str, Any]:
    """Mark a run deleted: listed nowhere by default, its artifacts garbage for ``gc``.

    Raises:
        NotFoundError: no such run.
        ActionConflict: the run is RUNNING.
    """
    run = find_run(metadata, run_id)
    _not_running(run, "deleted")
    run = metadata.update_context(run.id, {LIFECYCLE: LIFECYCLE_DELETED, "deleted_at": time.time()})
    return _summary(run)
