"""The task being run in this process: lets component code log metrics against its execution.

``run_prepared`` enters :func:`task_context` around the user's code; ``conveyor.log_metric``
(and the Trainer's ``ctx.log_metric``) called inside it records time-series metrics on that
execution and its run. Values are buffered and written in batches (one transaction per 5,000
values, and the rest when the task ends), so logging never slows a training loop.
"""

from __future__ import annotations

import contextvars
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from conveyor.metadata.entities import MetricRecord
from conveyor.metadata.store import MetadataStore

__all__ = [
    "TaskContext",
    "current_pipeline",
    "current_run_id",
    "current_task",
    "log_task_metric",
    "task_context",
]

BATCH = 5_000


@dataclass
class TaskContext:
    """The task running now: where its metrics go."""

    metadata: MetadataStore
    run_context_id: int
    execution_id: int
    task: str
    buffer: list[MetricRecord] = field(default_factory=list)
    next_step: dict[str, int] = field(default_factory=dict)

    def flush(self) -> None:
        """Write the buffered values (one transaction)."""
        if self.buffer:
            pending, self.buffer = self.buffer, []
            self.metadata.log_metrics(pending)


_CURRENT: contextvars.ContextVar[TaskContext | None] = contextvars.ContextVar(
    "conveyor_current_task", default=None
)


def current_task() -> TaskContext | None:
    """The task whose user code is running in this thread, if any."""
    return _CURRENT.get()


def current_pipeline() -> str | None:
    """The name of the pipeline whose run is executing this task (None outside a run)."""
    ctx = _CURRENT.get()
    if ctx is None:
        return None
    name = ctx.metadata.get_context(ctx.run_context_id).properties.get("pipeline")
    return None if name is None else str(name)


def current_run_id() -> str | None:
    """The id of the run executing this task (None outside a run)."""
    ctx = _CURRENT.get()
    return None if ctx is None else ctx.metadata.get_context(ctx.run_context_id).name


@contextmanager
def task_context(ctx: TaskContext) -> Iterator[TaskContext]:
    """Make ``ctx`` the current task while the block runs; write its metrics at the end."""
    token = _CURRENT.set(ctx)
    try:
        yield ctx
    finally:
        _CURRENT.reset(token)
        ctx.flush()


def log_task_metric(name: str, value: float, step: int | None = None) -> bool:
    """Record a metric value on the current task's execution; False when no task runs.

    Raises:
        ValueError: NaN, infinite, or an empty name.
    """
    ctx = _CURRENT.get()
    if ctx is None:
        return False
    if not name:
        raise ValueError("A metric needs a name")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"Metric {name!r} is {number!r}; metrics must be finite numbers")
    if step is None:
        step = ctx.next_step.get(name, 0)
    ctx.next_step[name] = step + 1
    ctx.buffer.append(
        MetricRecord(ctx.run_context_id, ctx.execution_id, name, number, step, time.time())
    )
    if len(ctx.buffer) >= BATCH:
        ctx.flush()
    return True
