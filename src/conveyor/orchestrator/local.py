"""LocalOrchestrator: run a pipeline's IR on this machine, steps in parallel worker processes."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from conveyor.errors import DefinitionError, RunInterrupted
from conveyor.execution.params import resolve_parameters
from conveyor.execution.results import TaskOutputs, TaskResult
from conveyor.execution.runs import open_run
from conveyor.ir.spec import PipelineSpec
from conveyor.metadata import MetadataStore, connect
from conveyor.metadata.entities import ExecutionState
from conveyor.metadata.store import CONTEXT_RUN
from conveyor.orchestrator.reporter import RunReporter
from conveyor.orchestrator.scheduler import Scheduler
from conveyor.orchestrator.workers import WorkerConfig, WorkerPool
from conveyor.storage import ArtifactStore, open_store

__all__ = ["LocalOrchestrator", "RunResult", "RunState", "reconcile_stale_runs"]


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
        # Read the state again now that the process is known to be gone: a run that finished
        # after the listing above wrote its final state before its process exited.
        if metadata.get_context(ctx.id).properties.get("state") != RunState.RUNNING:
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
        scheduler = Scheduler(self, spec, run, values, pool)
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
