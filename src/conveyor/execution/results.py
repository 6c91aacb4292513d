"""Plain, picklable records a task run hands back to whoever runs it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conveyor.metadata.entities import ArtifactRecord, ExecutionState
from conveyor.types.artifacts import artifact_html

__all__ = ["ArtifactRef", "RunInfo", "TaskOutputs", "TaskResult"]


def _load_standard_views() -> None:
    """Register the HTML views of the standard artifact types: importing the modules that
    define them registers them (``conveyor.types.register_view``). Imported here, on first
    display, so that running a pipeline never pays for them."""
    import conveyor.data.views
    import conveyor.model.card_html  # noqa: F401


@dataclass(frozen=True)
class ArtifactRef:
    """An artifact as the next task needs it."""

    id: int
    uri: str
    type_name: str
    fingerprint: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: ArtifactRecord) -> ArtifactRef:
        """From a metadata record."""
        return cls(record.id, record.uri, record.type_name, record.fingerprint, record.properties)

    def _repr_html_(self) -> str:
        """In a notebook: the artifact's HTML view (``result.outputs(task).artifacts[key]``)."""
        _load_standard_views()
        return artifact_html(self.type_name.split("@")[0], self.uri, self.properties)


@dataclass(frozen=True)
class TaskOutputs:
    """A task's outputs: parameter values and artifacts, by output name."""

    parameters: Mapping[str, Any] = field(default_factory=dict)
    artifacts: Mapping[str, ArtifactRef] = field(default_factory=dict)


@dataclass(frozen=True)
class RunInfo:
    """The identity of a run and the metadata contexts its executions belong to."""

    run_id: str
    pipeline: str
    run_context_id: int
    pipeline_context_id: int
    experiment_context_id: int | None = None
    first_of_pipeline: bool = False
    """True when this run created its pipeline's context: no task has run before."""

    @property
    def contexts(self) -> tuple[int, ...]:
        """Context ids every execution of the run is associated with."""
        ids = [self.run_context_id, self.pipeline_context_id]
        if self.experiment_context_id is not None:
            ids.append(self.experiment_context_id)
        return tuple(ids)


@dataclass(frozen=True)
class TaskResult:
    """How one task of a run ended."""

    task: str
    state: ExecutionState
    execution_id: int | None = None
    outputs: TaskOutputs = field(default_factory=TaskOutputs)
    cached: bool = False
    cache_key: str | None = None
    cache_reason: str = ""
    error: str | None = None
    traceback: str | None = None
    duration_seconds: float = 0.0
    attempts: int = 0
    log_path: str | None = None
