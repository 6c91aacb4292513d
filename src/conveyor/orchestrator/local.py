"""LocalOrchestrator: run a pipeline's IR on this machine, steps in parallel worker processes."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from conveyor.errors import DefinitionError, RunInterrupted, StoreError
from conveyor.execution.params import resolve_parameters
from conveyor.execution.results import TaskOutputs, TaskResult
from conveyor.execution.runs import check_run_id, open_run
from conveyor.ir.spec import PipelineSpec
from conveyor.metadata import MetadataStore, connect
from conveyor.metadata.entities import ExecutionState
from conveyor.metadata.runs import METRICS, run_metric_summary
from conveyor.metadata.store import CONTEXT_RUN
from conveyor.orchestrator.driver import drive, interrupt
from conveyor.orchestrator.owner import owner_alive, owner_identity
from conveyor.orchestrator.reporter import RunReporter
from conveyor.orchestrator.scheduler import Scheduler, SharedWork
from conveyor.orchestrator.workers import WorkerConfig, WorkerPool
from conveyor.storage import ArtifactStore, open_store

__all__ = [
    "LocalOrchestrator",
    "RunResult",
    "RunState",
    "reconcile_stale_runs",
    "recorded_task_states",
]


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
        """The outputs of one task, or of one instance of a task inside control flow
        (``"boost[2]"``)."""
        return self.tasks[task].outputs

    def instances(self, task: str) -> list[TaskResult]:
        """Every recorded instance of a task inside a loop or parallel-for, in iteration
        order (``boost[0]``, ``boost[1]``, ...; nested: ``[0][0]``, ``[0][1]``, ``[1][0]``);
        a task outside control flow gives its one result.

        Example:
            >>> [r.outputs.parameters["auc"] for r in result.instances("score")]  # doctest: +SKIP
            [0.73, 0.749, 0.768]
        """
        found = []
        for name, r in self.tasks.items():
            base, _, rest = name.partition("[")
            if base != task:
                continue
            marks = rest.rstrip("]").split("][") if rest else []
            if any(not m.isdigit() for m in marks):
                continue  # a task[*] record: iterations that never expanded
            found.append((tuple(int(m) for m in marks), r))
        return [r for _, r in sorted(found, key=lambda x: x[0])]


def recorded_task_states(metadata: MetadataStore, run_context_id: int) -> dict[str, Any]:
    """``task_states`` (executions per state) and ``failed_tasks`` as the store records them,
    for a run that could not count its own results (its orchestrator died or failed)."""
    executions = metadata.list_executions(context_id=run_context_id)
    counts: dict[str, int] = {}
    for ex in executions:
        counts[ex.state.value] = counts.get(ex.state.value, 0) + 1
    failed = sorted(ex.name for ex in executions if ex.state == ExecutionState.FAILED)
    return {"task_states": counts, "failed_tasks": failed}


def reconcile_stale_runs(
    metadata: MetadataStore,
    *,
    scan: int = 50,
    open_storage: Callable[[], ArtifactStore] | None = None,
) -> list[str]:
    """Mark runs whose orchestrator died (kill -9, power loss) as FAILED, and their
    still-RUNNING executions as FAILED, so metadata never shows a ghost run in progress.

    The owner is identified by host, pid, boot id, PID namespace and start time
    (:func:`~conveyor.orchestrator.owner.owner_alive`): a reused pid, or a run in another PID
    namespace of this host, is judged correctly. The run's ``task_states`` are recounted from
    the store, and the half-written outputs of its interrupted steps (``.partial`` staging) are
    removed from ``open_storage()``'s store, opened only when a run is reconciled.
    """
    fixed: list[str] = []
    storage: ArtifactStore | None = None
    for ctx in metadata.list_contexts(CONTEXT_RUN, limit=scan):
        props = ctx.properties
        if props.get("state") != RunState.RUNNING or owner_alive(props):
            continue
        # Read the state again now that the process is known to be gone: a run that finished
        # after the listing above wrote its final state before its process exited.
        if metadata.get_context(ctx.id).properties.get("state") != RunState.RUNNING:
            continue
        message = "the orchestrator process died before the run finished"
        running = metadata.list_executions(context_id=ctx.id, states=[ExecutionState.RUNNING])
        for ex in running:
            metadata.update_execution(
                ex.id,
                state=ExecutionState.FAILED,
                properties={"error": {"type": "OrchestratorDied", "message": message}},
            )
        if running and open_storage is not None:
            storage = storage or open_storage()
            for ex in running:
                p = ex.properties
                if all(isinstance(p.get(k), str) for k in ("pipeline", "run_id", "task")):
                    folder = storage.uri_for(p["pipeline"], p["run_id"], f"{p['task']}.{ex.id}")
                    storage.discard_staged(folder)
        metadata.update_context(
            ctx.id,
            {
                "state": RunState.FAILED,
                "error": message,
                "finished_at": time.time(),
                **recorded_task_states(metadata, ctx.id),
            },
        )
        fixed.append(ctx.name)
    return fixed


def _resumable(metadata: MetadataStore, ids: Sequence[str | None]) -> dict[str, int]:
    """``{run_id: retries so far}`` of the runs to retry in place, each checked: it exists
    and it ended FAILED or CANCELED."""
    found: dict[str, int] = {}
    for rid in ids:
        if rid is None:
            raise DefinitionError("A retry in place needs the run id of the run to retry")
        ctx = metadata.find_context(CONTEXT_RUN, check_run_id(rid))
        if ctx is None:
            raise DefinitionError(f"No run {rid!r} to retry in the metadata store")
        state = ctx.properties.get("state")
        if state not in (RunState.FAILED, RunState.CANCELED):
            raise DefinitionError(
                f"Run {rid!r} is {state}; only a FAILED or CANCELED run can be retried "
                "(clone it to run it again with other parameters)"
            )
        found[rid] = int(ctx.properties.get("retries") or 0)
    return found


def _reopened(retries: int, now: float) -> dict[str, Any]:
    """The properties that reopen a retried run (what its last ending recorded is cleared)."""
    return {
        "retries": retries + 1,
        "retried_at": now,
        "finished_at": None,
        "duration_seconds": None,
        "error": None,
        "failed_tasks": [],
    }


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
        self._owns_metadata = metadata is None
        self._storage = storage

    @property
    def metadata(self) -> MetadataStore:
        """The metadata store (opened on first use)."""
        if self._metadata is None:
            self._metadata = connect(self.metadata_url)
        return self._metadata

    def close(self) -> None:
        """Close the metadata store this orchestrator opened (one passed in stays open)."""
        if self._metadata is not None and self._owns_metadata:
            self._metadata.close()
            self._metadata = None

    def __enter__(self) -> LocalOrchestrator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        resume: bool = False,
    ) -> RunResult:
        """Run ``spec`` to the end and return its result (a failed step does not raise).

        ``properties`` are recorded on the run's context (e.g. who launched it). With
        ``resume``, ``run_id`` names an existing FAILED or CANCELED run, retried in place: its
        context is reopened (RUNNING, this process as owner, ``retries`` + 1, ``retried_at``)
        and the task instances whose newest execution succeeded (COMPLETE, CACHED, or SKIPPED
        by a condition) are taken as recorded, neither run again nor recorded again; the
        failed, cancelled and never-run ones run.
        """
        return self.run_many(
            spec,
            [parameters or {}],
            run_ids=[run_id],
            experiment=experiment,
            properties=properties,
            resume=resume,
        )[0]

    def run_many(
        self,
        spec: PipelineSpec,
        parameter_sets: Sequence[Mapping[str, Any]],
        *,
        run_ids: Sequence[str | None] | None = None,
        experiment: str | None = None,
        properties: Mapping[str, Any] | None = None,
        run_properties: Sequence[Mapping[str, Any]] | None = None,
        reporters: Sequence[RunReporter] | None = None,
        resume: bool = False,
    ) -> list[RunResult]:
        """Run ``spec`` once per parameter set, all at once on one worker pool.

        A step that several runs share (same code, parameters and inputs, e.g. the ingestion
        upstream of a hyper-parameter sweep) is computed once: the others wait for it and
        reuse it from the cache. ``properties`` are recorded on every run, ``run_properties``
        (one mapping per run) on each; ``reporters`` gives each run its own reporter (default:
        the orchestrator's for all). Each run is closed (final state, duration, ``after_run``)
        as soon as its own steps have ended.
        """
        count = len(parameter_sets)
        ids = list(run_ids) if run_ids is not None else [None] * count
        if len(ids) != count:
            raise ValueError(f"{count} parameter sets but {len(ids)} run ids")
        per_run = list(run_properties) if run_properties is not None else [{}] * count
        if len(per_run) != count:
            raise ValueError(f"{count} parameter sets but {len(per_run)} run property sets")
        values = [resolve_parameters(spec, p) for p in parameter_sets]
        if not self.in_process and self.artifact_root.startswith("memory://"):
            raise DefinitionError(
                "A memory:// artifact store lives inside one process, so worker processes "
                "cannot share it. Run with --in-process (conveyor.run(..., in_process=True)), "
                "or use a local folder or an object store"
            )
        _ = self.storage  # fail now (e.g. s3:// without s3fs), before any run is recorded
        metadata = self.metadata
        reconcile_stale_runs(metadata, open_storage=lambda: self.storage)
        retries = _resumable(metadata, ids) if resume else {}
        for rid in ids:
            if (
                not resume
                and rid is not None
                and metadata.find_context(CONTEXT_RUN, check_run_id(rid)) is not None
            ):
                raise DefinitionError(
                    f"Run {rid!r} already exists. Choose another --run-id, or omit it for a "
                    "generated one (a rerun reuses completed steps from the cache anyway)"
                )
        pool = None
        if not self.in_process:
            most = self.workers if spec.groups else len(spec.tasks) * count
            pool = WorkerPool(
                max(1, min(self.workers, most)),
                WorkerConfig(
                    spec=spec,
                    metadata_url=self.metadata_url,
                    artifact_root=self.artifact_root,
                    scratch=os.path.join(self.home, "tmp"),
                    search_root=self.search_root,
                ),
            )
        shared = SharedWork()
        schedulers: list[Scheduler] = []
        started: dict[str, float] = {}
        closed: dict[str, RunResult] = {}

        def close(sched: Scheduler, canceled: bool = False) -> None:
            run_id = sched.run.run_id
            if run_id not in closed:
                closed[run_id] = self._close_run(sched, started[run_id], canceled)

        try:
            for i, (vals, rid) in enumerate(zip(values, ids, strict=True)):
                t0 = time.time()
                run = open_run(
                    metadata,
                    spec,
                    run_id=rid,
                    parameters=vals,
                    experiment=experiment,
                    properties={
                        "state": RunState.RUNNING,
                        "started_at": t0,
                        **owner_identity(),
                        "mode": "in-process" if self.in_process else f"{self.workers} workers",
                        "cache": self.use_cache,
                        "tasks": len(spec.tasks),
                        **(properties or {}),
                        **per_run[i],
                        **(_reopened(retries[rid], t0) if rid in retries else {}),
                    },
                )
                started[run.run_id] = t0
                reporter = reporters[i] if reporters is not None else self.reporter
                sched = Scheduler(self, spec, run, vals, pool, shared, reporter)
                if resume:
                    sched.take_recorded()
                sched.reporter.before_run(run, spec)
                schedulers.append(sched)
            try:
                with _sigterm_as_interrupt():
                    drive(schedulers, pool, on_done=close)
            except (KeyboardInterrupt, RunInterrupted):
                open_ = [s for s in schedulers if s.run.run_id not in closed]
                interrupt(open_, pool)
                for sched in open_:
                    close(sched, canceled=True)
        except BaseException as exc:  # a framework failure: no run may stay RUNNING
            for sched in (s for s in schedulers if s.run.run_id not in closed):
                metadata.update_context(
                    sched.run.run_context_id,
                    {
                        "state": RunState.FAILED,
                        "finished_at": time.time(),
                        "error": f"{type(exc).__name__}: {exc}",
                        **recorded_task_states(metadata, sched.run.run_context_id),
                    },
                )
            raise
        finally:
            if pool is not None:
                pool.close()
        return [closed[s.run.run_id] for s in schedulers]

    def _close_run(self, sched: Scheduler, started: float, canceled: bool) -> RunResult:
        """Record the run's final state on its context and tell its reporter."""
        results = sched.results
        failures = list(sched.flow.failures)
        state = RunState.CANCELED if canceled else RunState.COMPLETE
        bad = (ExecutionState.FAILED, ExecutionState.CANCELED)
        if not canceled and (failures or any(r.state in bad for r in results.values())):
            state = RunState.FAILED
        duration = time.time() - started
        counts: dict[str, int] = {}
        for r in results.values():
            counts[r.state.value] = counts.get(r.state.value, 0) + 1
        props: dict[str, Any] = {
            "state": state,
            "finished_at": time.time(),
            "duration_seconds": duration,
            "task_states": counts,
            "failed_tasks": sorted(
                t for t, r in results.items() if r.state == ExecutionState.FAILED
            ),
        }
        loops = sched.flow.loop_summary()
        if loops:
            props["loops"] = loops
        if failures:
            props["error"] = "; ".join(failures)
        if sched.reporter.error is not None:  # the run went on without its output
            props["output_error"] = sched.reporter.error
        try:  # final metric values, so that run lists filter and sort on them in SQL
            metrics = run_metric_summary(self.metadata, sched.run.run_context_id)
        except StoreError:  # the run's state matters more than its summary
            metrics = {}
        if metrics:
            props[METRICS] = metrics
        self.metadata.update_context(sched.run.run_context_id, props)
        run = sched.run
        result = RunResult(
            run.run_id, sched.spec.name, state, dict(results), duration, run.run_context_id
        )
        sched.reporter.after_run(result)
        return result
