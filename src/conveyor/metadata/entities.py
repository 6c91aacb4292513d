"""Lineage entities of the ML Metadata model: artifacts, executions, contexts, events."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "ArtifactRecord",
    "ArtifactState",
    "ContextRecord",
    "EventRecord",
    "EventType",
    "ExecutionRecord",
    "ExecutionState",
    "LineageGraph",
    "MetricRecord",
    "NewArtifact",
]


class ArtifactState(enum.StrEnum):
    """Life cycle of an artifact's bytes (MLMD names)."""

    UNKNOWN = "UNKNOWN"
    PENDING = "PENDING"
    LIVE = "LIVE"
    MARKED_FOR_DELETION = "MARKED_FOR_DELETION"
    DELETED = "DELETED"
    ABANDONED = "ABANDONED"
    REFERENCE = "REFERENCE"


class ExecutionState(enum.StrEnum):
    """Life cycle of an execution (MLMD names plus SKIPPED for a branch not taken)."""

    UNKNOWN = "UNKNOWN"
    NEW = "NEW"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    CACHED = "CACHED"
    CANCELED = "CANCELED"
    SKIPPED = "SKIPPED"

    @property
    def is_final(self) -> bool:
        """Whether the execution will not change state again."""
        return self not in (ExecutionState.NEW, ExecutionState.RUNNING, ExecutionState.UNKNOWN)

    @property
    def is_success(self) -> bool:
        """Whether the execution produced (or reused) its outputs."""
        return self in (ExecutionState.COMPLETE, ExecutionState.CACHED)


class EventType(enum.StrEnum):
    """How an artifact relates to an execution (MLMD names)."""

    UNKNOWN = "UNKNOWN"
    DECLARED_OUTPUT = "DECLARED_OUTPUT"
    DECLARED_INPUT = "DECLARED_INPUT"
    INPUT = "INPUT"
    OUTPUT = "OUTPUT"
    INTERNAL_INPUT = "INTERNAL_INPUT"
    INTERNAL_OUTPUT = "INTERNAL_OUTPUT"
    PENDING_OUTPUT = "PENDING_OUTPUT"

    @property
    def is_input(self) -> bool:
        """Whether the artifact flows into the execution."""
        return self in (EventType.INPUT, EventType.DECLARED_INPUT, EventType.INTERNAL_INPUT)

    @property
    def is_output(self) -> bool:
        """Whether the artifact flows out of the execution."""
        return self in (
            EventType.OUTPUT,
            EventType.DECLARED_OUTPUT,
            EventType.INTERNAL_OUTPUT,
            EventType.PENDING_OUTPUT,
        )


@dataclass(frozen=True)
class NewArtifact:
    """An artifact to record, as an execution's output under ``key``."""

    key: str
    type_name: str
    uri: str
    name: str = ""
    fingerprint: str | None = None
    size_bytes: int | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    state: ArtifactState = ArtifactState.LIVE


@dataclass(frozen=True)
class ArtifactRecord:
    """A recorded artifact."""

    id: int
    type_name: str
    uri: str
    name: str
    state: ArtifactState
    fingerprint: str | None
    size_bytes: int | None
    properties: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ExecutionRecord:
    """A recorded execution: one attempt at running (or reusing) one task."""

    id: int
    type_name: str
    name: str
    state: ExecutionState
    cache_key: str | None
    properties: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ContextRecord:
    """A recorded context: a pipeline, a run, an experiment."""

    id: int
    type_name: str
    name: str
    properties: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class EventRecord:
    """An edge between an artifact and an execution; ``path`` is the input or output key."""

    artifact_id: int
    execution_id: int
    type: EventType
    path: str
    created_at: datetime


@dataclass(frozen=True)
class LineageGraph:
    """A subgraph of lineage: the artifacts, executions and events that connect them."""

    artifacts: tuple[ArtifactRecord, ...] = ()
    executions: tuple[ExecutionRecord, ...] = ()
    events: tuple[EventRecord, ...] = ()


@dataclass(frozen=True)
class MetricRecord:
    """One value of a scalar metric at a step (a loss per step, an accuracy per epoch).

    A metric belongs to a context (a run), an execution (a task), or both; at least one id is
    set. ``timestamp`` is wall-clock seconds since the epoch (``time.time()``), as plotted on
    a time axis.

    Example:
        >>> MetricRecord(context_id=1, execution_id=None, name="loss", value=0.5, step=3,
        ...              timestamp=1_700_000_000.0).step
        3
    """

    context_id: int | None
    execution_id: int | None
    name: str
    value: float
    step: int
    timestamp: float
