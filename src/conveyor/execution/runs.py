"""Run-level bookkeeping: run ids, run contexts, a run's derived state, tasks not run."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Mapping
from typing import Any

from conveyor._internal.names import MAX_NAME_BYTES, name_problem
from conveyor.errors import CompilationError, InvalidNameError
from conveyor.execution.flow import NotRun
from conveyor.execution.results import RunInfo, TaskResult
from conveyor.ir.spec import (
    PipelineSpec,
)
from conveyor.metadata.entities import ExecutionState
from conveyor.metadata.store import (
    CONTEXT_EXPERIMENT,
    CONTEXT_PIPELINE,
    CONTEXT_PIPELINE_VERSION,
    CONTEXT_RUN,
    MetadataStore,
)

__all__ = [
    "check_run_id",
    "code_root_for",
    "ir_digest",
    "new_run_id",
    "open_run",
    "record_decision",
    "record_not_run",
    "refresh_run_state",
]


def code_root_for(spec: PipelineSpec, ir_path: str) -> str:
    """Where a compiled IR's component modules import from: the IR's folder or the working
    directory, whichever holds the components' source files (default: the working directory).
    """
    files = [c.implementation.source_file for c in spec.components.values()]
    for root in (os.path.dirname(os.path.abspath(ir_path)), os.getcwd()):
        if any(f and os.path.isfile(os.path.join(root, f)) for f in files):
            return root
    return os.getcwd()


def new_run_id(pipeline: str) -> str:
    """A fresh, sortable run id: ``<pipeline>-<UTC timestamp>-<random>``.

    A long pipeline name is shortened so the id keeps to the name rule's length.
    """
    suffix = f"-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"
    room = MAX_NAME_BYTES - len(suffix)
    prefix = pipeline.encode("utf-8")[:room].decode("utf-8", "ignore")
    return prefix + suffix


def check_run_id(run_id: str) -> str:
    """``run_id`` if it keeps to the name rule (it names folders of artifacts and logs).

    Raises:
        InvalidNameError: it does not; the message names it and the rule.
    """
    problem = name_problem("run id", run_id)
    if problem is not None:
        raise InvalidNameError(f"{problem}. Choose another --run-id")
    return run_id


def ir_digest(spec: PipelineSpec) -> tuple[str, str] | None:
    """``(digest, ir_json)`` of a pipeline's IR (``sha256:...`` of its deterministic JSON), or
    None when the IR cannot be written as JSON (a NaN default: the run goes on without one)."""
    from conveyor.ir.serialize import dumps

    try:
        text = dumps(spec)
    except CompilationError:
        return None
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest(), text


def _pipeline_version(metadata: MetadataStore, spec: PipelineSpec, pipeline_id: int) -> int | None:
    """The context of this IR version of the pipeline (created with the IR on first sight)."""
    found = ir_digest(spec)
    if found is None:
        return None
    digest, text = found
    name = f"{spec.name}@{digest}"
    ctx = metadata.find_context(CONTEXT_PIPELINE_VERSION, name)
    if ctx is None:
        ctx = metadata.put_context(
            CONTEXT_PIPELINE_VERSION,
            name,
            {"pipeline": spec.name, "digest": digest, "ir": json.loads(text),
             "created_at": time.time()},
            parents=[pipeline_id],
        )  # fmt: skip
    return ctx.id


def open_run(
    metadata: MetadataStore,
    spec: PipelineSpec,
    *,
    run_id: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    experiment: str | None = None,
    properties: Mapping[str, Any] | None = None,
) -> RunInfo:
    """Get or create the pipeline, experiment and run contexts of a run."""
    run_id = check_run_id(run_id) if run_id is not None else new_run_id(spec.name)
    first = metadata.find_context(CONTEXT_PIPELINE, spec.name) is None
    pipeline_ctx = metadata.put_context(
        CONTEXT_PIPELINE, spec.name, {"ir_version": spec.ir_version}
    )
    parents = [pipeline_ctx.id]
    version_id = _pipeline_version(metadata, spec, pipeline_ctx.id)
    if version_id is not None:
        parents.append(version_id)
    experiment_id = None
    if experiment:
        exp_ctx = metadata.put_context(CONTEXT_EXPERIMENT, experiment)
        experiment_id = exp_ctx.id
        parents.append(exp_ctx.id)
    props: dict[str, Any] = {"pipeline": spec.name, "parameters": dict(parameters or {})}
    if version_id is not None:
        props["ir_digest"] = metadata.get_context(version_id).properties.get("digest")
    if experiment:
        props["experiment"] = experiment
    props.update(properties or {})
    run_ctx = metadata.put_context(CONTEXT_RUN, run_id, props, parents=parents)
    return RunInfo(run_id, spec.name, run_ctx.id, pipeline_ctx.id, experiment_id, first)


def refresh_run_state(metadata: MetadataStore, run: RunInfo, spec: PipelineSpec) -> str:
    """Derive a run's state from its tasks' newest executions and record it on the run.

    For runs driven one task at a time (``conveyor exec`` from a remote runner), where no
    orchestrator process owns the run: COMPLETE when every task succeeded, FAILED when the
    newest attempt of a task failed, RUNNING otherwise.
    """
    latest: dict[str, ExecutionState] = {}
    for ex in sorted(metadata.list_executions(context_id=run.run_context_id), key=lambda e: e.id):
        latest[ex.name] = ex.state
    if spec.groups:
        from conveyor.execution.replay import replay

        params = metadata.get_context(run.run_context_id).properties.get("parameters", {})
        state = replay(spec, params, run, metadata, record=False).state
    else:
        states = [latest.get(t) for t in spec.tasks]
        if all(st is not None and st.is_success for st in states):
            state = "COMPLETE"
        elif any(st in (ExecutionState.FAILED, ExecutionState.CANCELED) for st in states):
            state = "FAILED"
        else:
            state = "RUNNING"
    counts: dict[str, int] = {}
    for st in latest.values():
        counts[st.value] = counts.get(st.value, 0) + 1
    props: dict[str, Any] = {"state": state, "task_states": counts, "tasks": len(spec.tasks)}
    if state != "RUNNING":
        props["finished_at"] = time.time()
    metadata.update_context(run.run_context_id, props)
    return state


def record_not_run(
    metadata: MetadataStore,
    run: RunInfo,
    spec: PipelineSpec,
    task: str,
    state: ExecutionState,
    reason: str,
    *,
    instance: str | None = None,
    scope: Mapping[str, int] | None = None,
) -> TaskResult:
    """Record a task that did not run (upstream failed, run cancelled, branch skipped).

    ``instance`` names one instance of a task inside control flow (``train[2]``, or
    ``train[*]`` for iterations never expanded).
    """
    comp = spec.components[spec.tasks[task].component]
    name = instance or task
    props: dict[str, Any] = {
        "pipeline": run.pipeline,
        "run_id": run.run_id,
        "task": name,
        "component": comp.name,
        "reason": reason,
        "finished_at": time.time(),
    }
    if name != task:
        props["base_task"] = task
        props["scope"] = dict(scope or {})
    if state == ExecutionState.FAILED:
        props["error"] = {"type": "ControlFlowError", "message": reason}
    execution_id, _ = metadata.record_execution(
        comp.name, name, state, contexts=run.contexts, properties=props
    )
    return TaskResult(name, state, execution_id, error=reason)


def record_decision(
    metadata: MetadataStore, run: RunInfo, spec: PipelineSpec, decision: NotRun
) -> TaskResult:
    """Record what the control flow decided not to run (skipped, cancelled, failed)."""
    return record_not_run(
        metadata,
        run,
        spec,
        decision.task,
        decision.state,
        decision.reason,
        instance=decision.name,
        scope=dict(decision.scope),
    )
