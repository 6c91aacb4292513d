"""Run reporters: how a run tells the outside world what happens (console, UI, tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conveyor.execution.results import RunInfo, TaskResult
    from conveyor.ir.spec import PipelineSpec
    from conveyor.orchestrator.local import RunResult

__all__ = ["GuardedReporter", "RunReporter", "forwards_logs"]


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


def forwards_logs(reporter: RunReporter) -> bool:
    """Whether ``reporter`` shows step output itself (else in-process steps print directly)."""
    if isinstance(reporter, GuardedReporter):
        return forwards_logs(reporter.inner)
    return type(reporter).task_log is not RunReporter.task_log


class GuardedReporter(RunReporter):
    """A reporter whose failures never reach the run: output is never a reason for a run to
    fail. The first exception (a closed pipe: ``conveyor run | head -1``, a closed terminal, a
    full disk, a bug in a custom reporter) turns the reporter off for the rest of the run and is
    kept in :attr:`error`; the run goes on and is recorded as usual."""

    def __init__(self, inner: RunReporter) -> None:
        self.inner = inner
        self.error: str | None = None

    def _call(self, method: str, *args: Any) -> None:
        if self.error is not None:
            return
        try:
            getattr(self.inner, method)(*args)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def before_run(self, run: RunInfo, spec: PipelineSpec) -> None:
        """Forward to the wrapped reporter."""
        self._call("before_run", run, spec)

    def before_task(self, task: str) -> None:
        """Forward to the wrapped reporter."""
        self._call("before_task", task)

    def after_task(self, result: TaskResult) -> None:
        """Forward to the wrapped reporter."""
        self._call("after_task", result)

    def task_log(self, task: str, text: str) -> None:
        """Forward to the wrapped reporter."""
        self._call("task_log", task, text)

    def after_run(self, result: RunResult) -> None:
        """Forward to the wrapped reporter."""
        self._call("after_run", result)
