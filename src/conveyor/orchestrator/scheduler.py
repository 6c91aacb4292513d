"""The run loop of the local orchestrator: dispatch ready tasks, reuse cache hits, react to
worker events, cancel cleanly."""

from __future__ import annotations

import functools
import os
import signal
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from conveyor._internal.paths import path_under
from conveyor._internal.units import parse_memory
from conveyor.cache.lookup import CacheLookup, find_cache_hit
from conveyor.errors import ConveyorError, ExecutionError
from conveyor.execution.explain import explain_miss
from conveyor.execution.flow import Flow, Launch, NotRun
from conveyor.execution.prepare import PreparedTask, load_task_outputs, prepare_task
from conveyor.execution.results import RunInfo, TaskOutputs, TaskResult
from conveyor.execution.runs import record_decision, record_not_run
from conveyor.execution.task import record_cache_hit, run_prepared
from conveyor.ir.spec import PipelineSpec
from conveyor.metadata.entities import ExecutionRecord, ExecutionState
from conveyor.orchestrator.logs import LogTail, tee_python_streams
from conveyor.orchestrator.reporter import GuardedReporter, RunReporter, forwards_logs
from conveyor.orchestrator.workers import Job, WorkerEvent, WorkerPool

if TYPE_CHECKING:
    from conveyor.orchestrator.local import LocalOrchestrator

__all__ = ["LOG_POLL_SECONDS", "TIMEOUT_GRACE_SECONDS", "Scheduler", "SharedWork"]

TIMEOUT_GRACE_SECONDS = 5.0
"""How long past its timeout (and retries) a step may run before its worker is killed."""

LOG_POLL_SECONDS = 0.1
"""How often running steps' log files are read for the console."""


class SharedWork:
    """What the runs of one orchestrator share: steps being computed, by cache key.

    A step whose cache key another run (or another iteration) is computing right now waits for
    that result and reuses it from the cache, instead of computing the same thing twice: the
    runs of a sweep share their common upstream steps.
    """

    def __init__(self) -> None:
        self.in_flight: dict[str, str] = {}  # cache key -> instance computing it
        self.parked: dict[str, list[tuple[Scheduler, PreparedTask, str]]] = {}


class Scheduler:
    """The run loop of one run: ask the flow what to do, reuse cache hits, run the rest."""

    def __init__(
        self,
        orch: LocalOrchestrator,
        spec: PipelineSpec,
        run: RunInfo,
        values: dict[str, Any],
        pool: WorkerPool | None,
        shared: SharedWork | None = None,
        reporter: RunReporter | None = None,
    ):
        self.orch = orch
        self.reporter = GuardedReporter(reporter or orch.reporter)
        self.spec = spec
        self.run = run
        self.values = values
        self.pool = pool
        self.shared = shared or SharedWork()
        self.flow = Flow(spec, values, run_id=run.run_id)
        self.results: dict[str, TaskResult] = {}
        self.outputs: dict[str, TaskOutputs] = {}
        """Outputs of the instances that succeeded (kept as they end: a fan-out of thousands
        must not rebuild it for every step)."""
        self.queue: deque[tuple[PreparedTask, str]] = deque()
        self.tails: dict[str, LogTail] = {}
        self.log_dir = path_under(os.path.join(orch.home, "logs"), run.run_id, error=ExecutionError)
        self.recorded: dict[str, ExecutionRecord] = {}
        """A retried run's newest execution of each instance (see :meth:`take_recorded`)."""

    def take_recorded(self) -> None:
        """Retry in place: the instances whose newest recorded execution in this run succeeded
        (or was SKIPPED by a condition) are taken as they were when the flow reaches them."""
        for ex in sorted(
            self.orch.metadata.list_executions(context_id=self.run.run_context_id),
            key=lambda e: e.id,
        ):
            self.recorded[ex.name] = ex

    def _reuse(self, name: str, state: ExecutionState | None = None) -> TaskResult | None:
        """The recorded result of ``name`` if it stands (a success; or ``state`` as decided)."""
        ex = self.recorded.get(name)
        if ex is None:
            return None
        if state is not None:
            return TaskResult(name, ex.state, ex.id) if ex.state == state else None
        if not ex.state.is_success:
            return None
        outputs = load_task_outputs(self.orch.metadata, self.run, name) or TaskOutputs()
        cached = ex.state == ExecutionState.CACHED
        return TaskResult(name, ex.state, ex.id, outputs, cached=cached, cache_key=ex.cache_key)

    @property
    def idle(self) -> bool:
        """Nothing of this run runs, waits in the queue or waits for another run's step."""
        return not self.flow.busy and not self.queue

    def pump(self) -> bool:
        """Act on every decision the flow can make now; whether anything happened."""
        progressed = False
        while True:
            decisions = self.flow.advance()
            if not decisions:
                return progressed
            progressed = True
            for decision in decisions:
                if isinstance(decision, NotRun):
                    kept = None
                    if decision.state == ExecutionState.SKIPPED:
                        kept = self._reuse(decision.name, ExecutionState.SKIPPED)
                    self._finish(
                        kept or record_decision(self.orch.metadata, self.run, self.spec, decision)
                    )
                    continue
                reused = self._reuse(decision.instance.name) if self.recorded else None
                if reused is not None:
                    self._finish(reused)
                    continue
                found = self._prepare(decision)
                if found is None:
                    continue
                if self.pool is None or found[0].in_process:
                    self._run_inline(*found)
                else:
                    self._enqueue(*found)

    def conclude(self, reason: str) -> None:
        """Record what never became ready (nothing runs any more) as CANCELED."""
        for n in self.flow.pending(reason):
            self._finish(record_decision(self.orch.metadata, self.run, self.spec, n))

    def _enqueue(self, prepared: PreparedTask, reason: str) -> None:
        """Queue a step for a worker; the same step of other runs waits for it meanwhile."""
        self.shared.in_flight.setdefault(prepared.key, prepared.task)
        self.queue.append((prepared, reason))

    def _finish(self, result: TaskResult) -> None:
        self.results[result.task] = result
        if result.state.is_success:
            self.outputs[result.task] = result.outputs
        self.flow.finish(result.task, result.state, result.outputs, result.error)
        self.reporter.after_task(result)

    def _fail_prepare(self, name: str, base: str, exc: ConveyorError) -> None:
        execution_id, _ = self.orch.metadata.record_execution(
            self.spec.tasks[base].component,
            name,
            ExecutionState.FAILED,
            contexts=self.run.contexts,
            properties={
                "task": name,
                "run_id": self.run.run_id,
                "error": {"type": type(exc).__name__, "message": str(exc)},
            },
        )
        self._finish(TaskResult(name, ExecutionState.FAILED, execution_id, error=str(exc)))

    def _prepare(self, launch: Launch) -> tuple[PreparedTask, str] | None:
        """Prepare an instance and serve it from the cache if possible; None when served,
        failed or parked behind the same step of another run."""
        orch = self.orch
        inst = launch.instance
        try:
            prepared = prepare_task(
                self.spec,
                inst.name,
                self.run,
                self.values,
                self.outputs,
                orch.metadata,
                search_root=orch.search_root,
                task_spec=launch.task_spec,
                base_task=inst.task,
                scope=inst.indices,
            )
        except ConveyorError as exc:
            self._fail_prepare(inst.name, inst.task, exc)
            return None
        if not orch.use_cache:
            return prepared, "cache disabled for this run (--no-cache)"
        if not prepared.cache_enabled:
            return prepared, "cache disabled for this task"
        lookup = self._lookup(prepared)
        if lookup.hit is not None:
            self._finish(record_cache_hit(orch.metadata, self.run, prepared, lookup))
            return None
        owner = self.shared.in_flight.get(prepared.key)
        if owner is not None and self.pool is not None:
            self.shared.parked.setdefault(prepared.key, []).append((self, prepared, owner))
            return None
        reasons = explain_miss(
            orch.metadata,
            self.run.pipeline_context_id,
            prepared,
            lookup.reason,
            first_run=self.run.first_of_pipeline,
        )
        return prepared, "; ".join(reasons)

    def _lookup(self, prepared: PreparedTask) -> CacheLookup:
        comp = self.spec.components[prepared.component]
        return find_cache_hit(
            self.orch.metadata, self.orch.storage, prepared.key, list(comp.output_artifacts)
        )

    def release(self, key: str) -> None:
        """The step computing ``key`` ended: serve the steps parked behind it."""
        if self.shared.in_flight.pop(key, None) is None:
            return
        for sched, prepared, owner in self.shared.parked.pop(key, []):
            lookup = sched._lookup(prepared)
            if lookup.hit is not None:
                sched._finish(record_cache_hit(sched.orch.metadata, sched.run, prepared, lookup))
                continue
            # the step failed there: compute it here
            sched._enqueue(prepared, f"{owner!r} computing it did not produce a reusable result")

    def _log_path(self, task: str) -> str:
        return path_under(self.log_dir, f"{task}.log", error=ExecutionError)

    def _run_inline(self, prepared: PreparedTask, reason: str) -> None:
        self.reporter.before_task(prepared.task)
        log_path = self._log_path(prepared.task)
        reporter = self.reporter
        forward = None  # no reporter for logs: the step's prints also reach the screen
        if forwards_logs(reporter):
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

    def submit_next(self) -> PreparedTask:
        """Hand the first queued step to an idle worker (the pool checked capacity)."""
        prepared, reason = self.queue.popleft()
        self._submit(prepared, reason)
        return prepared

    def _submit(self, prepared: PreparedTask, reason: str) -> None:
        assert self.pool is not None
        tspec = prepared.task_spec
        deadline = None
        if tspec.timeout_seconds is not None:
            attempts = tspec.retry.max_retries + 1
            waits = sum(tspec.retry.delay(i) for i in range(1, attempts))
            deadline = tspec.timeout_seconds * attempts + waits + TIMEOUT_GRACE_SECONDS
        self.reporter.before_task(prepared.task)
        log_path = self._log_path(prepared.task)
        self.tails[prepared.task] = LogTail(
            log_path, functools.partial(self.reporter.task_log, prepared.task)
        )
        resources = tspec.resources
        memory = parse_memory(resources.memory) if resources.memory is not None else None
        self.pool.submit(Job(prepared, self.run, log_path, reason, deadline, memory))

    def on_event(self, event: WorkerEvent) -> None:
        """A worker ended a step of this run: record it and serve the steps waiting for it."""
        assert event.job is not None
        try:
            self._on_event(event)
        finally:
            self.release(event.job.prepared.key)

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
        elif event.kind == "memory":
            tspec = event.job.prepared.task_spec
            message = (
                f"Task {task!r} used {event.peak / 2**20:.0f} MiB, over its memory limit "
                f"{tspec.resources.memory}; its worker was killed. Raise the limit with "
                ".set_resources(memory=...) or make the step use less memory"
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

    def cancel_all(self, jobs: list[Job]) -> None:
        """Record this run's interrupted steps (``jobs``) and everything not run as CANCELED;
        then run its exit handlers."""
        for job in jobs:
            task = job.prepared.task
            if task not in self.results:
                self._finish(
                    self._fail_running(task, "run cancelled", job.log_path, ExecutionState.CANCELED)
                )
        for prepared, _ in self.queue:
            self._finish(self._not_started(prepared.task, prepared.spec_task))
        self.queue.clear()
        for key, parked in list(self.shared.parked.items()):
            mine = [p for p in parked if p[0] is self]
            for _, prepared, _ in mine:
                self._finish(self._not_started(prepared.task, prepared.spec_task))
            self.shared.parked[key] = [p for p in parked if p[0] is not self]
        for name in list(self.flow.running):
            running = self.orch.metadata.list_executions(
                context_id=self.run.run_context_id, name=name, states=[ExecutionState.RUNNING]
            )
            if running:
                self._finish(
                    self._fail_running(name, "run cancelled", None, ExecutionState.CANCELED)
                )
            else:
                self._finish(self._not_started(name, self.flow.running[name].task))
        self.flow.cancel()
        self._run_exit_handlers()
        self.conclude("run cancelled")

    def _run_exit_handlers(self) -> None:
        """After a cancel, exit handlers still run (in this process: the workers are gone),
        with the state ``CANCELED``; everything else the flow decides is recorded."""
        pool, self.pool = self.pool, None
        try:
            self.pump()
        finally:
            self.pool = pool

    def _not_started(self, name: str, task: str) -> TaskResult:
        return record_not_run(
            self.orch.metadata,
            self.run,
            self.spec,
            task,
            ExecutionState.CANCELED,
            "run cancelled",
            instance=name,
        )
