"""Run reporters: how a run tells the outside world what happens (console, UI, tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conveyor.execution.results import RunInfo, TaskResult
    from conveyor.ir.spec import PipelineSpec
    from conveyor.orchestrator.local import RunResult

__all__ = ["RunReporter"]


class RunReporter:
    """Receives run events. Every method is a no-op; override the ones you need."""

    def before_run(self, run: RunInfo, spec: PipelineSpec) -> None:
        """The run's contexts exist; no task has started."""

    def before_task(self, task: str) -> None:
        """A task is about to run in a worker (not called for cache hits)."""

    def after_task(self, result: TaskResult) -> None:
        """A task ended: completed, cached, failed, cancelled or skipped."""

    def task_log(self, task: str, text: str) -> None:
        """A chunk of a running task's stdout/stderr."""

    def after_run(self, result: RunResult) -> None:
        """The run ended."""
