"""The MetadataStore protocol: what runners, the cache and the CLI need from a lineage store."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from conveyor.metadata.entities import (
    ArtifactRecord,
    ArtifactState,
    ContextRecord,
    EventRecord,
    ExecutionRecord,
    ExecutionState,
    LineageGraph,
    MetricRecord,
    NewArtifact,
)
from conveyor.metadata.runs import RunGroup, RunPage, RunQuery

__all__ = [
    "CONTEXT_EXPERIMENT",
    "CONTEXT_PIPELINE",
    "CONTEXT_PIPELINE_VERSION",
    "CONTEXT_RUN",
    "LIFECYCLE",
    "LIFECYCLE_ARCHIVED",
    "LIFECYCLE_DELETED",
    "MetadataStore",
]

CONTEXT_PIPELINE = "conveyor.Pipeline"
"""Context type of a pipeline (by name): every execution of every run of it."""

CONTEXT_RUN = "conveyor.PipelineRun"
"""Context type of one run (named by its run id); its properties hold the run's state."""

CONTEXT_EXPERIMENT = "conveyor.Experiment"
"""Context type of an experiment: runs grouped with ``--experiment``."""

CONTEXT_PIPELINE_VERSION = "conveyor.PipelineVersion"
"""Context type of one version of a pipeline: named ``<pipeline>@<IR digest>``, a child of the
pipeline's context, with the IR itself in its ``ir`` property; a parent of each run of it."""

LIFECYCLE = "lifecycle"
"""The run property saying whether a run was archived or deleted (absent: an active run)."""

LIFECYCLE_ARCHIVED = "archived"
"""A run hidden from the default lists; restorable; its artifacts may be garbage-collected."""

LIFECYCLE_DELETED = "deleted"
"""A run the user deleted: listed nowhere by default; its artifacts may be garbage-collected."""


@runtime_checkable
class MetadataStore(Protocol):
    """A lineage store. Every write method is one transaction; reads never see half a write.

    Implementations: :class:`conveyor.metadata.sql.SqlMetadataStore` (SQLite, PostgreSQL).
    Check a new implementation with ``conveyor.testing.check_metadata_store``.
    """

    uri: str

    # --- contexts ---------------------------------------------------------------------------
    def put_context(
        self,
        type_name: str,
        name: str,
        properties: Mapping[str, Any] | None = None,
        parents: Sequence[int] = (),
    ) -> ContextRecord:
        """Get or create the context ``(type_name, name)``; merge ``properties`` into it."""
        ...

    def update_context(self, context_id: int, properties: Mapping[str, Any]) -> ContextRecord:
        """Merge ``properties`` into a context (top-level keys replace)."""
        ...

    def get_context(self, context_id: int) -> ContextRecord:
        """A context by id; :class:`NotFoundError` if absent."""
        ...

    def find_context(self, type_name: str, name: str) -> ContextRecord | None:
        """A context by type and name, or None."""
        ...

    def list_contexts(
        self,
        type_name: str,
        *,
        limit: int | None = None,
        offset: int = 0,
        parent_id: int | None = None,
    ) -> list[ContextRecord]:
        """Contexts of a type, newest first (optionally only the children of ``parent_id``)."""
        ...

    def get_parent_contexts(self, context_id: int) -> list[ContextRecord]:
        """The parents of a context."""
        ...

    # --- executions -------------------------------------------------------------------------
    def start_execution(
        self,
        type_name: str,
        name: str,
        *,
        contexts: Sequence[int] = (),
        inputs: Sequence[tuple[str, int]] = (),
        properties: Mapping[str, Any] | None = None,
        state: ExecutionState = ExecutionState.RUNNING,
        cache_key: str | None = None,
    ) -> int:
        """Record an execution with its INPUT events ``(key, artifact_id)``; return its id."""
        ...

    def finish_execution(
        self,
        execution_id: int,
        state: ExecutionState,
        *,
        outputs: Sequence[NewArtifact] = (),
        reused_outputs: Sequence[tuple[str, int]] = (),
        properties: Mapping[str, Any] | None = None,
        cache_key: str | None = None,
    ) -> list[ArtifactRecord]:
        """Close an execution in one transaction.

        Inserts ``outputs`` as artifacts with OUTPUT events keyed by ``NewArtifact.key``, adds
        OUTPUT events to existing artifacts ``reused_outputs`` (a cache hit), attributes every
        output artifact to the execution's contexts, merges ``properties``, sets the state
        (and the cache key, if given). Returns the new artifacts in the order given.
        """
        ...

    def record_execution(
        self,
        type_name: str,
        name: str,
        state: ExecutionState,
        *,
        contexts: Sequence[int] = (),
        inputs: Sequence[tuple[str, int]] = (),
        outputs: Sequence[NewArtifact] = (),
        reused_outputs: Sequence[tuple[str, int]] = (),
        properties: Mapping[str, Any] | None = None,
        cache_key: str | None = None,
    ) -> tuple[int, list[ArtifactRecord]]:
        """``start_execution`` and ``finish_execution`` in one transaction."""
        ...

    def update_execution(
        self,
        execution_id: int,
        *,
        state: ExecutionState | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        """Change an execution's state and/or merge properties."""
        ...

    def get_execution(self, execution_id: int) -> ExecutionRecord:
        """An execution by id; :class:`NotFoundError` if absent."""
        ...

    def list_executions(
        self,
        *,
        context_id: int | None = None,
        name: str | None = None,
        states: Iterable[ExecutionState] | None = None,
        cache_key: str | None = None,
        limit: int | None = None,
    ) -> list[ExecutionRecord]:
        """Executions matching every given filter, newest first."""
        ...

    def get_execution_contexts(self, execution_id: int) -> list[ContextRecord]:
        """The contexts an execution is associated with."""
        ...

    # --- artifacts and events ---------------------------------------------------------------
    def get_artifact(self, artifact_id: int) -> ArtifactRecord:
        """An artifact by id; :class:`NotFoundError` if absent."""
        ...

    def get_artifacts(self, artifact_ids: Iterable[int]) -> list[ArtifactRecord]:
        """Artifacts by id, in one query, ordered by id (missing ids are left out)."""
        ...

    def list_artifacts(
        self,
        *,
        context_id: int | None = None,
        type_name: str | None = None,
        limit: int | None = None,
    ) -> list[ArtifactRecord]:
        """Artifacts matching the filters, newest first."""
        ...

    def set_artifact_state(self, artifact_ids: Iterable[int], state: ArtifactState) -> None:
        """Change the state of artifacts (e.g. bytes found corrupt -> ABANDONED)."""
        ...

    def get_events(
        self,
        *,
        execution_ids: Iterable[int] | None = None,
        artifact_ids: Iterable[int] | None = None,
    ) -> list[EventRecord]:
        """Events touching any of the given executions or artifacts, in one query."""
        ...

    def find_cached_execution(self, cache_key: str) -> ExecutionRecord | None:
        """The newest COMPLETE execution recorded with ``cache_key``, or None."""
        ...

    # --- lineage ----------------------------------------------------------------------------
    def lineage(
        self,
        artifact_id: int,
        direction: Literal["upstream", "downstream"] = "upstream",
        *,
        max_depth: int | None = None,
    ) -> LineageGraph:
        """The artifacts and executions upstream (or downstream) of an artifact.

        Bounded number of queries whatever the depth (one recursive query plus fetches).
        ``max_depth`` counts executions along a path.
        """
        ...

    # --- metrics ----------------------------------------------------------------------------
    def log_metrics(
        self,
        records: Sequence[MetricRecord],
        *,
        context_properties: tuple[int, Mapping[str, Any]] | None = None,
    ) -> None:
        """Insert metric values in one transaction (one batched statement); with
        ``context_properties`` ``(context_id, properties)``, merge those properties into the
        context in the same transaction (a tracked run's final state with its last values).

        Raises:
            ValueError: a value is not finite, a name is empty, or a record has neither a
                context nor an execution id.
            NotFoundError: a context or execution id does not exist (nothing is written).
        """
        ...

    def get_metrics(
        self,
        *,
        context_id: int | None = None,
        execution_id: int | None = None,
        names: Iterable[str] | None = None,
    ) -> list[MetricRecord]:
        """Metric values matching every given filter, in one query, ordered by name, step and
        insertion order (the history of each metric, ready to plot)."""
        ...

    def metric_summaries(self, context_id: int) -> list[dict[str, Any]]:
        """What was logged in a context, one dict per metric name ordered by name (a bounded
        number of queries): ``name``, ``count``, ``first_step``, ``last_step``, ``last_value``,
        ``min``, ``max``, ``execution_ids`` (``None`` for values logged by the run itself)."""
        ...

    def metric_points(
        self, context_id: int, names: Iterable[str], *, by_time: bool = False
    ) -> dict[str, list[tuple[int, float, float]]]:
        """``{name: [(step, value, timestamp), ...]}`` of a context in one query, each series
        ordered by step (``by_time``: timestamp), then insertion order; names with no point
        left out. Plain tuples: fast enough to plot series of 100,000 points."""
        ...

    # --- runs -------------------------------------------------------------------------------
    def search_runs(self, query: RunQuery) -> RunPage:
        """One page of the runs (``CONTEXT_RUN`` contexts) matching ``query``, in its order,
        and the number of runs that match; filtered, sorted and paged in the database.

        Raises:
            ValueError: a parameter or metric name outside the safe pattern.
        """
        ...

    def summarize_runs(self, lifecycle: str = "active") -> list[RunGroup]:
        """Run counts grouped by experiment, pipeline and state, with each group's newest
        start (``lifecycle`` as in :class:`~conveyor.metadata.runs.RunQuery`)."""
        ...

    def metric_series(
        self, context_id: int, names: Iterable[str], *, max_points: int, by_time: bool = False
    ) -> dict[str, dict[str, Any]]:
        """Metrics of a context ready to plot: per name ``count``, ``min``, ``max``,
        ``first_time`` and ``points`` (``(step, value, timestamp)`` in x order: step, or time
        ``by_time``): all of them up to ``max_points``, else the lowest and the highest point of
        each of ``max_points // 2`` equal x ranges. Names with no point left out."""
        ...

    # --- maintenance ------------------------------------------------------------------------
    def close(self) -> None:
        """Release connections. Safe to call twice."""
        ...
