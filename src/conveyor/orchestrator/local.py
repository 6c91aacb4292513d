"""LocalOrchestrator: run a pipeline's IR on this machine, steps in parallel worker processes."""

from __future__ import annotations

import functools
import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from conveyor.cache.lookup import find_cache_hit
from conveyor.errors import ConveyorError, DefinitionError, RunInterrupted
from conveyor.execution.explain import explain_miss
from conveyor.execution.params import resolve_parameters
from conveyor.execution.results import RunInfo, TaskOutputs, TaskResult
from conveyor.execution.task import (
    PreparedTask,
    open_run,
    prepare_task,
    record_cache_hit,
    record_not_run,
    run_prepared,
)
from conveyor.ir.spec import PipelineSpec
from conveyor.metadata import MetadataStore, connect
from conveyor.metadata.entities import ExecutionState
from conveyor.metadata.store import CONTEXT_RUN
from conveyor.orchestrator.logs import LogTail, tee_python_streams
from conveyor.orchestrator.reporter import RunReporter
from conveyor.orchestrator.workers import Job, WorkerConfig, WorkerEvent, WorkerPool
from conveyor.storage import ArtifactStore, open_store

__all__ = ["LocalOrchestrator", "RunResult", "RunState", "reconcile_stale_runs"]

TIMEOUT_GRACE_SECONDS = 5.0
LOG_POLL_SECONDS = 0.1


class RunState:
    """Run states recorded on the run context."""

    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


@dataclass(frozen=True)
class RunResult:
    """How a run ended, with every task's result."""

    run_id: str
    pipeline: str
    state: str
    tasks: Mapping[str, TaskResult] = field(default_factory=dict)
    duration_seconds: float = 0.0
    run_context_id: int | None = None

    @property
    def ok(self) -> bool:
        """Whether every task completed or came from the cache."""
        return self.state == RunState.COMPLETE

    @property
    def failed_tasks(self) -> list[str]:
        """Tasks that failed (not those cancelled because of them)."""
        return sorted(t for t, r in self.tasks.items() if r.state == ExecutionState.FAILED)

    def outputs(self, task: str) -> TaskOutputs:
        """The outputs of one task."""
        return self.tasks[task].outputs


def _pid_alive(pid: int) -> bool:
    """Whether a process runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def reconcile_stale_runs(metadata: MetadataStore, *, scan: int = 50) -> list[str]:
    """Mark runs whose orchestrator died (kill -9, power loss) as FAILED, and their
    still-RUNNING executions as FAILED, so metadata never shows a ghost run in progress."""
    host = socket.gethostname()
    fixed: list[str] = []
    for ctx in metadata.list_contexts(CONTEXT_RUN, limit=scan):
        props = ctx.properties
        if props.get("state") != RunState.RUNNING or props.get("host") != host:
            continue
        pid = props.get("pid")
        if not isinstance(pid, int) or _pid_alive(pid):
            continue
        message = "the orchestrator process died before the run finished"
        for ex in metadata.list_executions(context_id=ctx.id, states=[ExecutionState.RUNNING]):
            metadata.update_execution(
                ex.id,
                state=ExecutionState.FAILED,
                properties={"error": {"type": "OrchestratorDied", "message": message}},
            )
        metadata.update_context(
            ctx.id, {"state": RunState.FAILED, "error": message, "finished_at": time.time()}
        )
        fixed.append(ctx.name)
    return fixed


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class LocalOrchestrator:
    """Run pipelines on this machine.

    Independent steps run in parallel in pre-started worker processes (default: one per
    CPU); each step's output goes to ``<home>/logs/<run_id>/<task>.log`` and to the
    reporter. ``in_process=True`` runs steps one by one in this process (debuggers,
    notebooks). Completed steps are reused from the cache on a rerun.

    Example:
        >>> orch = LocalOrchestrator(metadata_url="sqlite://", artifact_root="/tmp/a",
        ...                          home="/tmp/h", in_process=True)  # doctest: +SKIP
        >>> orch.run(my_pipeline.spec, {"C": 0.5}).ok  # doctest: +SKIP
        True
    """

    def __init__(
        self,
        *,
        metadata_url: str,
        artifact_root: str,
        home: str,
        workers: int | None = None,
        in_process: bool = False,
        use_cache: bool = True,
        reporter: RunReporter | None = None,
        search_root: str | None = None,
        metadata: MetadataStore | None = None,
        storage: ArtifactStore | None = None,
    ) -> None:
        self.metadata_url = metadata_url
        self.artifact_root = artifact_root
        self.home = os.path.abspath(home)
        self.workers = workers or os.cpu_count() or 1
        self.in_process = in_process
        self.use_cache = use_cache
        self.reporter = reporter or RunReporter()
        self.search_root = search_root
        self._metadata = metadata
        self._storage = storage

    @property
    def metadata(self) -> MetadataStore:
        """The metadata store (opened on first use)."""
        if self._metadata is None:
            self._metadata = connect(self.metadata_url)
        return self._metadata

    @property
    def storage(self) -> ArtifactStore:
        """The artifact store (opened on first use)."""
        if self._storage is None:
            self._storage = open_store(self.artifact_root, scratch=os.path.join(self.home, "tmp"))
        return self._storage

    def run(
        self,
        spec: PipelineSpec,
        parameters: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        experiment: str | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> RunResult:
        """Run ``spec`` to the end and return its result (a failed step does not raise).

        ``properties`` are recorded on the run's context (e.g. who launched it).
        """
        if spec.groups:
            kinds = sorted({g.kind for g in spec.groups.values()})
            raise DefinitionError(
                f"Pipeline {spec.name!r} uses control-flow groups {kinds!r}; the IR carries them "
                "but this version of the local runner does not execute them yet"
            )
        values = resolve_parameters(spec, parameters)
        if not self.in_process and self.artifact_root.startswith("memory://"):
            raise DefinitionError(
                "A memory:// artifact store lives inside one process, so worker processes "
                "cannot share it. Run with --in-process (conveyor.run(..., in_process=True)), "
                "or use a local folder or an object store"
            )
        _ = self.storage  # fail now (e.g. s3:// without s3fs), before any run is recorded
        metadata = self.metadata
        reconcile_stale_runs(metadata)
        if run_id is not None and metadata.find_context(CONTEXT_RUN, run_id) is not None:
            raise DefinitionError(
                f"Run {run_id!r} already exists. Choose another --run-id, or omit it for a "
                "generated one (a rerun reuses completed steps from the cache anyway)"
            )
        started = time.time()
        run = open_run(
            metadata,
            spec,
            run_id=run_id,
            parameters=values,
            experiment=experiment,
            properties={
                "state": RunState.RUNNING,
                "started_at": started,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "mode": "in-process" if self.in_process else f"{self.workers} workers",
                "cache": self.use_cache,
                "tasks": len(spec.tasks),
                **(properties or {}),
            },
        )
        pool = None
        if not self.in_process:
            pool = WorkerPool(
                min(self.workers, len(spec.tasks)),
                WorkerConfig(
                    spec=spec,
                    metadata_url=self.metadata_url,
                    artifact_root=self.artifact_root,
                    scratch=os.path.join(self.home, "tmp"),
                    search_root=self.search_root,
                ),
            )
        self.reporter.before_run(run, spec)
        scheduler = _Scheduler(self, spec, run, values, pool)
        state = RunState.COMPLETE
        try:
            with _sigterm_as_interrupt():
                scheduler.loop()
        except (KeyboardInterrupt, RunInterrupted):
            scheduler.cancel_all()
            state = RunState.CANCELED
        except BaseException as exc:  # a framework failure: the run must not stay RUNNING
            metadata.update_context(
                run.run_context_id,
                {
                    "state": RunState.FAILED,
                    "finished_at": time.time(),
                    "error": f"{type(exc).__name__}: {exc}",
                },
            )
            raise
        finally:
            if pool is not None:
                pool.close()
        results = scheduler.results
        if state != RunState.CANCELED and any(not r.state.is_success for r in results.values()):
            state = RunState.FAILED
        duration = time.time() - started
        counts: dict[str, int] = {}
        for r in results.values():
            counts[r.state.value] = counts.get(r.state.value, 0) + 1
        metadata.update_context(
            run.run_context_id,
            {
                "state": state,
                "finished_at": time.time(),
                "duration_seconds": duration,
                "task_states": counts,
                "failed_tasks": sorted(
                    t for t, r in results.items() if r.state == ExecutionState.FAILED
                ),
            },
        )
        result = RunResult(
            run.run_id, spec.name, state, dict(results), duration, run.run_context_id
        )
        self.reporter.after_run(result)
        return result


class _Scheduler:
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
