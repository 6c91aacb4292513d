"""Run ONE task of a run: resolve inputs, check the cache, call user code, record lineage."""

from __future__ import annotations

import math
import os
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conveyor._internal.importing import import_object
from conveyor.cache.code import code_fingerprint
from conveyor.cache.keys import CacheKey
from conveyor.cache.lookup import CacheLookup, find_cache_hit
from conveyor.dsl.annotations import coerce_value, json_value_matches
from conveyor.errors import (
    ArtifactError,
    ComponentError,
    ExecutionError,
    TaskTimeoutError,
)
from conveyor.execution.boundary import call_user_code, format_user_traceback
from conveyor.execution.results import ArtifactRef, RunInfo, TaskOutputs, TaskResult
from conveyor.ir.spec import (
    ComponentSpec,
    Constant,
    ListRef,
    PipelineParameterRef,
    PipelineSpec,
    TaskOutputRef,
    TaskSpec,
    ValueRef,
)
from conveyor.metadata.entities import EventType, ExecutionState, NewArtifact
from conveyor.metadata.store import CONTEXT_EXPERIMENT, CONTEXT_PIPELINE, CONTEXT_RUN, MetadataStore
from conveyor.storage.store import ArtifactStore
from conveyor.types.artifacts import Artifact, artifact_type

__all__ = [
    "PreparedTask",
    "code_root_for",
    "execute_task",
    "load_task_outputs",
    "new_run_id",
    "open_run",
    "prepare_task",
    "record_cache_hit",
    "record_not_run",
    "refresh_run_state",
    "run_prepared",
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
    """A fresh, sortable run id: ``<pipeline>-<UTC timestamp>-<random>``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{pipeline}-{stamp}-{uuid.uuid4().hex[:6]}"


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
    run_id = run_id or new_run_id(spec.name)
    first = metadata.find_context(CONTEXT_PIPELINE, spec.name) is None
    pipeline_ctx = metadata.put_context(
        CONTEXT_PIPELINE, spec.name, {"ir_version": spec.ir_version}
    )
    parents = [pipeline_ctx.id]
    experiment_id = None
    if experiment:
        exp_ctx = metadata.put_context(CONTEXT_EXPERIMENT, experiment)
        experiment_id = exp_ctx.id
        parents.append(exp_ctx.id)
    props: dict[str, Any] = {"pipeline": spec.name, "parameters": dict(parameters or {})}
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


@dataclass
class PreparedTask:
    """A task with its inputs resolved and its cache key computed (picklable)."""

    task: str
    component: str
    parameters: dict[str, Any]
    inputs: dict[str, ArtifactRef | list[ArtifactRef]]
    cache_key: CacheKey
    cache_enabled: bool
    upstream_of_input: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The cache key digest."""
        return self.cache_key.digest


def load_task_outputs(metadata: MetadataStore, run: RunInfo, task: str) -> TaskOutputs | None:
    """The outputs of ``task``'s successful execution in ``run``, read from metadata."""
    found = metadata.list_executions(
        context_id=run.run_context_id,
        name=task,
        states=(ExecutionState.COMPLETE, ExecutionState.CACHED),
        limit=1,
    )
    if not found:
        return None
    execution = found[0]
    events = [
        e for e in metadata.get_events(execution_ids=[execution.id]) if e.type == EventType.OUTPUT
    ]
    by_id = {e.artifact_id: e.path for e in events}
    arts = {by_id[a.id]: ArtifactRef.from_record(a) for a in metadata.get_artifacts(by_id)}
    return TaskOutputs(parameters=dict(execution.properties.get("outputs", {})), artifacts=arts)


def _component_function(comp: ComponentSpec, search_root: str | None) -> Any:
    impl = comp.implementation
    try:
        obj = import_object(impl.module, impl.function, impl.source_file, search_root)
    except (ImportError, AttributeError, FileNotFoundError) as exc:
        raise ExecutionError(
            f"Cannot load component {comp.name!r} from {impl.module}.{impl.function}: {exc}. "
            "Make sure the pipeline's folder is the working directory or on PYTHONPATH"
        ) from exc
    return getattr(obj, "python_func", obj)


def prepare_task(
    spec: PipelineSpec,
    task: str,
    run: RunInfo,
    parameters: Mapping[str, Any],
    upstream: Mapping[str, TaskOutputs],
    metadata: MetadataStore | None = None,
    *,
    search_root: str | None = None,
) -> PreparedTask:
    """Resolve a task's inputs and compute its cache key.

    ``upstream`` holds the outputs of finished upstream tasks; a missing one is read from
    ``metadata`` (as when a remote runner starts the task on its own).
    """
    tspec: TaskSpec = spec.tasks[task]
    comp = spec.components[tspec.component]
    params: dict[str, Any] = {}
    inputs: dict[str, ArtifactRef | list[ArtifactRef]] = {}
    origin: dict[str, str] = {}

    def upstream_outputs(name: str) -> TaskOutputs:
        outs = upstream.get(name)
        if outs is None and metadata is not None:
            outs = load_task_outputs(metadata, run, name)
        if outs is None:
            raise ExecutionError(
                f"Task {task!r} needs outputs of {name!r}, which has not completed in run "
                f"{run.run_id!r}",
                task=task,
                run_id=run.run_id,
            )
        return outs

    def value_of(ref: ValueRef) -> Any:
        if isinstance(ref, Constant):
            return ref.value
        if isinstance(ref, PipelineParameterRef):
            return parameters[ref.name]
        if isinstance(ref, TaskOutputRef):
            outs = upstream_outputs(ref.task).parameters
            if ref.output not in outs:
                raise ExecutionError(
                    f"Task {task!r} needs output {ref.output!r} of {ref.task!r}, which its "
                    f"execution did not record (it recorded {sorted(outs)!r})",
                    task=task,
                    run_id=run.run_id,
                )
            return outs[ref.output]
        if isinstance(ref, ListRef):
            return [value_of(i) for i in ref.items]
        raise ExecutionError(
            f"Task {task!r} uses {type(ref).__name__}, a control-flow binding this runner does "
            "not execute yet",
            task=task,
            run_id=run.run_id,
        )

    def artifact_of(ref: ValueRef) -> ArtifactRef:
        if not isinstance(ref, TaskOutputRef):
            raise ExecutionError(f"Task {task!r}: artifact input bound to {ref!r}", task=task)
        return upstream_outputs(ref.task).artifacts[ref.output]

    for key, ref in tspec.inputs.items():
        if key in comp.input_artifacts:
            if isinstance(ref, ListRef):
                inputs[key] = [artifact_of(i) for i in ref.items]
                origin[key] = "', '".join(
                    sorted({i.task for i in ref.items if isinstance(i, TaskOutputRef)})
                )
            else:
                inputs[key] = artifact_of(ref)
                if isinstance(ref, TaskOutputRef):
                    origin[key] = ref.task
        else:
            params[key] = value_of(ref)
    for key, pspec in comp.input_parameters.items():
        if key not in params and pspec.has_default:
            params[key] = pspec.default
    func = _component_function(comp, search_root)
    code = code_fingerprint(func)
    cache_key = CacheKey(
        component=comp.name,
        code=code.parts,
        parameters=params,
        inputs={
            k: [a.fingerprint or "" for a in v] if isinstance(v, list) else v.fingerprint
            for k, v in inputs.items()
        },
        env=CacheKey.environment(comp.cache_env),
        packages=comp.packages,
    )
    return PreparedTask(task, comp.name, params, inputs, cache_key, tspec.cache, origin)


def _input_events(prepared: PreparedTask) -> list[tuple[str, int]]:
    events: list[tuple[str, int]] = []
    for key, found in sorted(prepared.inputs.items()):
        if isinstance(found, list):
            events += [(f"{key}[{i}]", a.id) for i, a in enumerate(found)]
        else:
            events.append((key, found.id))
    return events


def _input_artifact(key: str, ref: ArtifactRef, storage: ArtifactStore) -> Artifact:
    art = artifact_type(ref.type_name)(
        name=key, uri=ref.uri, path=storage.local_path(ref.uri), metadata=ref.properties
    )
    art.id, art.fingerprint = ref.id, ref.fingerprint
    return art


def _base_properties(run: RunInfo, prepared: PreparedTask) -> dict[str, Any]:
    return {
        "pipeline": run.pipeline,
        "run_id": run.run_id,
        "task": prepared.task,
        "component": prepared.component,
        "parameters": prepared.parameters,
        "cache": {"key": prepared.key, "parts": prepared.cache_key.to_dict()},
    }


def record_cache_hit(
    metadata: MetadataStore,
    run: RunInfo,
    prepared: PreparedTask,
    lookup: CacheLookup,
) -> TaskResult:
    """Record a CACHED execution that reuses the outputs of an earlier one."""
    assert lookup.hit is not None
    hit = lookup.hit
    props = _base_properties(run, prepared)
    props["cache"]["cached_from"] = hit.execution.id
    props["cache"]["reason"] = lookup.reason
    out_params = dict(hit.execution.properties.get("outputs", {}))
    props["outputs"] = out_params
    now = time.time()
    props["started_at"] = props["finished_at"] = now
    execution_id, _ = metadata.record_execution(
        prepared.component,
        prepared.task,
        ExecutionState.CACHED,
        contexts=run.contexts,
        inputs=_input_events(prepared),
        reused_outputs=[(k, a.id) for k, a in sorted(hit.outputs.items())],
        properties=props,
        cache_key=prepared.key,
    )
    outputs = TaskOutputs(
        out_params, {k: ArtifactRef.from_record(a) for k, a in hit.outputs.items()}
    )
    return TaskResult(
        prepared.task,
        ExecutionState.CACHED,
        execution_id,
        outputs,
        cached=True,
        cache_key=prepared.key,
        cache_reason=lookup.reason,
    )


def record_not_run(
    metadata: MetadataStore,
    run: RunInfo,
    spec: PipelineSpec,
    task: str,
    state: ExecutionState,
    reason: str,
) -> TaskResult:
    """Record a task that did not run (upstream failed, run cancelled, branch skipped)."""
    comp = spec.components[spec.tasks[task].component]
    execution_id, _ = metadata.record_execution(
        comp.name,
        task,
        state,
        contexts=run.contexts,
        properties={
            "pipeline": run.pipeline,
            "run_id": run.run_id,
            "task": task,
            "component": comp.name,
            "reason": reason,
            "finished_at": time.time(),
        },
    )
    return TaskResult(task, state, execution_id, error=reason)


def _output_parameters(comp: ComponentSpec, task: str, value: Any) -> dict[str, Any]:
    specs = comp.output_parameters
    if not specs:
        return {}
    if list(specs) == ["Output"]:
        values = {"Output": value}
    elif hasattr(value, "_asdict"):
        values = dict(value._asdict())
    elif isinstance(value, tuple) and len(value) == len(specs):
        values = dict(zip(specs, value, strict=True))
    else:
        raise ComponentError(
            f"Task {task!r} returned {value!r}; its component declares outputs {list(specs)!r}. "
            "Return a NamedTuple with those fields",
            task=task,
        )
    out: dict[str, Any] = {}
    for name, pspec in specs.items():
        v = values.get(name)
        if isinstance(v, float) and not math.isfinite(v):
            raise ComponentError(
                f"Task {task!r} output {name!r} is {v!r}; outputs must be finite JSON numbers. "
                "A NaN usually means training diverged (check the learning rate and the data)",
                task=task,
            )
        if not json_value_matches(v, pspec.type, pspec.nullable):
            raise ComponentError(
                f"Task {task!r} output {name!r} is {v!r} ({type(v).__name__}), but the "
                f"component declares {pspec.type}. Return a value of the declared type",
                task=task,
            )
        out[name] = coerce_value(v, pspec.type)
    return out


def run_prepared(
    spec: PipelineSpec,
    prepared: PreparedTask,
    run: RunInfo,
    metadata: MetadataStore,
    storage: ArtifactStore,
    *,
    cache_reason: str = "",
    log_path: str | None = None,
    search_root: str | None = None,
    sleep: Any = time.sleep,
) -> TaskResult:
    """Run the user's code for a prepared task (no cache lookup) and record the outcome."""
    tspec = spec.tasks[prepared.task]
    comp = spec.components[tspec.component]
    started = time.time()
    props = _base_properties(run, prepared)
    props["cache"]["reason"] = cache_reason
    props.update(
        {
            "started_at": started,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "resources": {
                "cpu": tspec.resources.cpu,
                "memory": tspec.resources.memory,
                "gpu": tspec.resources.gpu,
            },
        }
    )
    if log_path:
        props["log_path"] = log_path
    execution_id = metadata.start_execution(
        comp.name,
        prepared.task,
        contexts=run.contexts,
        inputs=_input_events(prepared),
        properties=props,
        cache_key=prepared.key,
    )
    func = _component_function(comp, search_root)
    attempts: list[dict[str, Any]] = []
    max_attempts = tspec.retry.max_retries + 1
    for attempt in range(1, max_attempts + 1):
        kwargs: dict[str, Any] = dict(prepared.parameters)
        for key, found in prepared.inputs.items():
            if isinstance(found, list):
                kwargs[key] = [_input_artifact(key, r, storage) for r in found]
            else:
                kwargs[key] = _input_artifact(key, found, storage)
        staged: dict[str, Artifact] = {}
        for key, aspec in comp.output_artifacts.items():
            uri = storage.uri_for(run.pipeline, run.run_id, f"{prepared.task}.{execution_id}", key)
            art = artifact_type(aspec.type)(name=key, uri=uri, path=storage.staging_path(uri))
            staged[key] = art
            kwargs[key] = art
        t0 = time.perf_counter()
        try:
            value = call_user_code(
                func, kwargs, task=prepared.task, run_id=run.run_id, timeout=tspec.timeout_seconds
            )
            out_params = _output_parameters(comp, prepared.task, value)
            new_artifacts = []
            for key, art in staged.items():
                art.finalize_output()
                fp = storage.commit(art.path, art.uri)
                new_artifacts.append(
                    NewArtifact(
                        key=key,
                        type_name=artifact_type(comp.output_artifacts[key].type).type_id(),
                        uri=art.uri,
                        name=f"{run.run_id}/{prepared.task}/{key}",
                        fingerprint=fp.digest,
                        size_bytes=fp.size,
                        properties=art.metadata,
                    )
                )
        except (ComponentError, TaskTimeoutError, ArtifactError) as exc:
            for art in staged.values():
                storage.discard(art.path)
            attempts.append(
                {"attempt": attempt, "error": str(exc), "seconds": time.perf_counter() - t0}
            )
            if attempt < max_attempts:
                sleep(tspec.retry.delay(attempt))
                continue
            tb = format_user_traceback(exc) if exc.__cause__ is not None else None
            finished = time.time()
            metadata.finish_execution(
                execution_id,
                ExecutionState.FAILED,
                properties={
                    "error": {
                        "type": type(exc.__cause__ or exc).__name__,
                        "message": str(exc),
                        "traceback": tb,
                    },
                    "attempts": attempts,
                    "finished_at": finished,
                    "duration_seconds": finished - started,
                },
            )
            return TaskResult(
                prepared.task,
                ExecutionState.FAILED,
                execution_id,
                error=str(exc),
                traceback=tb,
                duration_seconds=finished - started,
                attempts=attempt,
                cache_key=prepared.key,
                log_path=log_path,
            )
        except BaseException:
            for art in staged.values():
                storage.discard(art.path)
            metadata.finish_execution(
                execution_id,
                ExecutionState.CANCELED,
                properties={
                    "error": {"type": "Cancelled", "message": "run interrupted"},
                    "finished_at": time.time(),
                },
            )
            raise
        finished = time.time()
        records = metadata.finish_execution(
            execution_id,
            ExecutionState.COMPLETE,
            outputs=new_artifacts,
            properties={
                "outputs": out_params,
                "attempts": [*attempts, {"attempt": attempt, "seconds": time.perf_counter() - t0}],
                "finished_at": finished,
                "duration_seconds": finished - started,
            },
        )
        artifacts = {
            n.key: ArtifactRef.from_record(r) for n, r in zip(new_artifacts, records, strict=True)
        }
        return TaskResult(
            prepared.task,
            ExecutionState.COMPLETE,
            execution_id,
            TaskOutputs(out_params, artifacts),
            cache_key=prepared.key,
            cache_reason=cache_reason,
            duration_seconds=finished - started,
            attempts=attempt,
            log_path=log_path,
        )
    raise AssertionError("unreachable")  # pragma: no cover


def execute_task(
    spec: PipelineSpec,
    task: str,
    run: RunInfo,
    parameters: Mapping[str, Any],
    metadata: MetadataStore,
    storage: ArtifactStore,
    *,
    upstream: Mapping[str, TaskOutputs] | None = None,
    use_cache: bool = True,
    log_path: str | None = None,
    search_root: str | None = None,
) -> TaskResult:
    """Run one task end to end: the single entry every runner uses.

    Resolves inputs (from ``upstream`` or metadata), reuses a cached result when allowed and
    valid, otherwise calls the user's code inside the error boundary with retries and
    timeout, publishes outputs atomically and records the execution with its events.
    """
    prepared = prepare_task(
        spec, task, run, parameters, upstream or {}, metadata, search_root=search_root
    )
    reason = "cache disabled for this run" if not use_cache else "cache disabled for this task"
    if use_cache and prepared.cache_enabled:
        comp = spec.components[spec.tasks[task].component]
        lookup = find_cache_hit(metadata, storage, prepared.key, list(comp.output_artifacts))
        if lookup.hit is not None:
            return record_cache_hit(metadata, run, prepared, lookup)
        reason = lookup.reason
    return run_prepared(
        spec,
        prepared,
        run,
        metadata,
        storage,
        cache_reason=reason,
        log_path=log_path,
        search_root=search_root,
    )
