"""Explain a cache miss: what changed since the last successful execution of the task."""

from __future__ import annotations

from conveyor.cache.keys import CacheKey, explain_change
from conveyor.execution.prepare import PreparedTask
from conveyor.metadata.entities import ExecutionState
from conveyor.metadata.store import CONTEXT_PIPELINE, MetadataStore

__all__ = ["explain_miss", "previous_key"]


def previous_key(metadata: MetadataStore, pipeline: str | int, task: str) -> CacheKey | None:
    """The cache key of the newest successful execution of ``task`` in ``pipeline`` (a name,
    or the id of its context)."""
    if isinstance(pipeline, str):
        ctx = metadata.find_context(CONTEXT_PIPELINE, pipeline)
        if ctx is None:
            return None
        pipeline = ctx.id
    found = metadata.list_executions(
        context_id=pipeline,
        name=task,
        states=(ExecutionState.COMPLETE, ExecutionState.CACHED),
        limit=1,
    )
    if not found:
        return None
    parts = found[0].properties.get("cache", {}).get("parts")
    return CacheKey.from_dict(parts) if isinstance(parts, dict) else None


def explain_miss(
    metadata: MetadataStore,
    pipeline: str | int,
    prepared: PreparedTask,
    lookup_reason: str,
    *,
    first_run: bool = False,
) -> list[str]:
    """Reasons a task will run instead of coming from the cache.

    Compares the task's key with its last successful execution (which input, parameter or
    code file changed); when the keys are equal, the lookup's own reason is given (for
    example, the cached output was modified on disk). ``first_run``: the pipeline has never
    run before, so there is nothing to look up.
    """
    previous = None if first_run else previous_key(metadata, pipeline, prepared.task)
    reasons = explain_change(previous, prepared.cache_key, prepared.upstream_of_input)
    if previous is not None and not reasons:
        return [lookup_reason]
    return reasons
