"""The run loop of the local orchestrator: dispatch ready tasks, reuse cache hits, react to
worker events, cancel cleanly."""

from __future__ import annotations

import functools
import os
import signal
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from conveyor.cache.lookup import find_cache_hit
from conveyor.errors import ConveyorError
from conveyor.execution.explain import explain_miss
from conveyor.execution.prepare import PreparedTask, prepare_task
from conveyor.execution.results import RunInfo, TaskOutputs, TaskResult
from conveyor.execution.runs import record_not_run
from conveyor.execution.task import record_cache_hit, run_prepared
from conveyor.ir.spec import PipelineSpec
from conveyor.metadata.entities import ExecutionState
from conveyor.orchestrator.logs import LogTail, tee_python_streams
from conveyor.orchestrator.reporter import RunReporter
from conveyor.orchestrator.workers import Job, WorkerEvent, WorkerPool

if TYPE_CHECKING:
    from conveyor.orchestrator.local import LocalOrchestrator

__all__ = ["LOG_POLL_SECONDS", "TIMEOUT_GRACE_SECONDS", "Scheduler"]

TIMEOUT_GRACE_SECONDS = 5.0
"""How long past its timeout (and retries) a step may run before its worker is killed."""

LOG_POLL_SECONDS = 0.1
"""How often running steps' log files are read for the console."""


class Scheduler:
    """The run loop: dispatch ready tasks, reuse cache hits, react to worker events."""

    def __init__(
        self,
        orch: LocalOrchestrator,
        spec: PipelineSpec,
        run: RunInfo,
        values: dict[str, Any],
        pool: WorkerPool | None,
    ):
        self.orch = orch
        self.spec = spec
        self.run = run
        self.values = values
        self.pool = pool
        self.order = spec.topological_order()
        self.results: dict[str, TaskResult] = {}
        self.started: set[str] = set()
        self.queue: deque[tuple[PreparedTask, str]] = deque()
        self.tails: dict[str, LogTail] = {}
        self.log_dir = os.path.join(orch.home, "logs", run.run_id)

    def _outputs(self) -> dict[str, TaskOutputs]:
        return {t: r.outputs for t, r in self.results.items() if r.state.is_success}

    def _ready(self) -> list[str]:
        ready = []
        for t in self.order:
            if t in self.started:
                continue
            deps = self.spec.tasks[t].depends_on
            if all(d in self.results and self.results[d].state.is_success for d in deps):
                ready.append(t)
        return ready

    def _finish(self, result: TaskResult) -> None:
        self.results[result.task] = result
        self.orch.reporter.after_task(result)
        if not result.state.is_success:
            for down in sorted(self.spec.downstream_of(result.task)):
                if down in self.started:
                    continue
                self.started.add(down)
                self._finish(
                    record_not_run(
                        self.orch.metadata,
                        self.run,
                        self.spec,
                        down,
                        ExecutionState.CANCELED,
                        f"not run: upstream task {result.task!r} did not succeed",
                    )
                )

    def _prepare(self, task: str) -> tuple[PreparedTask, str] | None:
        """Prepare a task and serve it from the cache if possible; None when served/failed."""
        orch = self.orch
        try:
            prepared = prepare_task(
                self.spec,
                task,
                self.run,
                self.values,
                self._outputs(),
                orch.metadata,
                search_root=orch.search_root,
            )
        except ConveyorError as exc:
            execution_id, _ = orch.metadata.record_execution(
                self.spec.tasks[task].component,
                task,
                ExecutionState.FAILED,
                contexts=self.run.contexts,
                properties={
                    "task": task,
                    "run_id": self.run.run_id,
                    "error": {"type": type(exc).__name__, "message": str(exc)},
                },
            )
            self._finish(TaskResult(task, ExecutionState.FAILED, execution_id, error=str(exc)))
            return None
        if not orch.use_cache:
            return prepared, "cache disabled for this run (--no-cache)"
        if not prepared.cache_enabled:
            return prepared, "cache disabled for this task"
        comp = self.spec.component_of(task)
        lookup = find_cache_hit(
            orch.metadata, orch.storage, prepared.key, list(comp.output_artifacts)
        )
        if lookup.hit is not None:
            self._finish(record_cache_hit(orch.metadata, self.run, prepared, lookup))
            return None
        reasons = explain_miss(orch.metadata, self.run.pipeline_context_id, prepared, lookup.reason)
        return prepared, "; ".join(reasons)

    def _log_path(self, task: str) -> str:
        return os.path.join(self.log_dir, f"{task}.log")

    def loop(self) -> None:
        while True:
            progressed = True
            while progressed:
                progressed = False
                for task in self._ready():
                    self.started.add(task)
                    progressed = True
                    found = self._prepare(task)
                    if found is None:
                        continue
                    if self.pool is None:
                        self._run_inline(*found)
                    else:
                        self.queue.append(found)
                if self.pool is not None:
                    while self.queue and self.pool.idle:
                        self._submit(*self.queue.popleft())
            if self.pool is None or (self.pool.busy == 0 and not self.queue):
                return
            events = self.pool.wait(timeout=LOG_POLL_SECONDS)
            for tail in self.tails.values():
                tail.poll()
            for event in events:
                self._on_event(event)

    def _run_inline(self, prepared: PreparedTask, reason: str) -> None:
        self.orch.reporter.before_task(prepared.task)
        log_path = self._log_path(prepared.task)
        reporter = self.orch.reporter
        forward = None  # no reporter for logs: the step's prints also reach the screen
        if type(reporter).task_log is not RunReporter.task_log:
            forward = functools.partial(reporter.task_log, prepared.task)
        with tee_python_streams(log_path, forward):
            result = run_prepared(
                self.spec,
                prepared,
                self.run,
                self.orch.metadata,
                self.orch.storage,
                cache_reason=reason,
                log_path=log_path,
                search_root=self.orch.search_root,
            )
        self._finish(result)

    def _submit(self, prepared: PreparedTask, reason: str) -> None:
        assert self.pool is not None
        tspec = self.spec.tasks[prepared.task]
        deadline = None
        if tspec.timeout_seconds is not None:
            attempts = tspec.retry.max_retries + 1
            waits = sum(tspec.retry.delay(i) for i in range(1, attempts))
            deadline = tspec.timeout_seconds * attempts + waits + TIMEOUT_GRACE_SECONDS
        self.orch.reporter.before_task(prepared.task)
        log_path = self._log_path(prepared.task)
        self.tails[prepared.task] = LogTail(
            log_path, functools.partial(self.orch.reporter.task_log, prepared.task)
        )
        self.pool.submit(Job(prepared, self.run, log_path, reason, deadline))

    def _on_event(self, event: WorkerEvent) -> None:
        assert event.job is not None
        task = event.job.prepared.task
        tail = self.tails.pop(task, None)
        if tail is not None:
            tail.poll()
        if event.kind == "result":
            result = event.result
            assert result is not None
            if result.execution_id is None and not result.state.is_success:
                # the worker could not record the outcome itself (e.g. the store failed)
                result = self._fail_running(task, result.error or "failed", event.job.log_path)
            self._finish(result)
            return
        if event.kind == "died":
            code = event.exitcode
            how = (
                f"was killed by signal {signal.Signals(-code).name}"
                if code is not None and code < 0 and -code in signal.Signals._value2member_map_
                else f"exited with code {code}"
            )
            message = (
                f"Task {task!r}: the worker process {how} while running the component (a crash "
                "in native code, os.abort(), or the out-of-memory killer). See the step log: "
                f"{event.job.log_path}"
            )
        else:
            message = (
                f"Task {task!r} ran past its timeout and did not stop; its worker was killed. "
                "Raise the timeout or make the step faster"
            )
        self._finish(self._fail_running(task, message, event.job.log_path))

    def _fail_running(
        self,
        task: str,
        message: str,
        log_path: str | None,
        state: ExecutionState = ExecutionState.FAILED,
    ) -> TaskResult:
        metadata = self.orch.metadata
        running = metadata.list_executions(
            context_id=self.run.run_context_id, name=task, states=[ExecutionState.RUNNING]
        )
        execution_id = None
        for ex in running:
            execution_id = ex.id
            metadata.update_execution(
                ex.id,
                state=state,
                properties={
                    "error": {"type": "WorkerLost", "message": message},
                    "finished_at": time.time(),
                },
            )
        return TaskResult(task, state, execution_id, error=message, log_path=log_path)

    def cancel_all(self) -> None:
        """Stop running steps and record every unfinished task as CANCELED."""
        jobs = self.pool.interrupt() if self.pool is not None else []
        for job in jobs:
            task = job.prepared.task
            if task not in self.results:
                self._finish(
                    self._fail_running(task, "run cancelled", job.log_path, ExecutionState.CANCELED)
                )
        for task in self.order:
            if task in self.results:
                continue
            running = self.orch.metadata.list_executions(
                context_id=self.run.run_context_id, name=task, states=[ExecutionState.RUNNING]
            )
            if running:
                self._finish(
                    self._fail_running(task, "run cancelled", None, ExecutionState.CANCELED)
                )
                continue
            self.started.add(task)
            result = record_not_run(
                self.orch.metadata,
                self.run,
                self.spec,
                task,
                ExecutionState.CANCELED,
                "run cancelled",
            )
            self.results[task] = result
            self.orch.reporter.after_task(result)
