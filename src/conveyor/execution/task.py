"""Run ONE task of a run: check the cache, call user code, publish outputs, record lineage."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from typing import Any

from conveyor._internal.openmp import cpu_limit
from conveyor._internal.processes import step_processes
from conveyor.cache.lookup import CacheLookup, find_cache_hit
from conveyor.dsl.annotations import coerce_value, json_value_matches
from conveyor.errors import (
    ArtifactError,
    ComponentError,
    TaskTimeoutError,
)
from conveyor.execution.boundary import call_user_code, format_user_traceback
from conveyor.execution.context import TaskContext, task_context
from conveyor.execution.flow import Launch
from conveyor.execution.prepare import PreparedTask, component_function, prepare_task
from conveyor.execution.results import ArtifactRef, RunInfo, TaskOutputs, TaskResult
from conveyor.ir.spec import (
    ComponentSpec,
    PipelineSpec,
)
from conveyor.metadata.entities import ExecutionState, NewArtifact
from conveyor.metadata.store import MetadataStore
from conveyor.storage.store import ArtifactStore
from conveyor.types.artifacts import Artifact, artifact_type

__all__ = ["execute_task", "record_cache_hit", "run_prepared"]


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
    props: dict[str, Any] = {
        "pipeline": run.pipeline,
        "run_id": run.run_id,
        "task": prepared.task,
        "component": prepared.component,
        "parameters": prepared.parameters,
        "cache": {"key": prepared.key, "parts": prepared.cache_key.to_dict()},
    }
    if prepared.base_task is not None:
        props["base_task"] = prepared.base_task
        props["scope"] = dict(prepared.scope)
    return props


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
    tspec = prepared.task_spec
    comp = spec.components[tspec.component]
    started = time.time()
    props = _base_properties(run, prepared)
    props["cache"]["reason"] = cache_reason
    props.update(
        {
            "started_at": started,
            "pid": os.getpid(),
            "host": os.uname().nodename,
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
    func = component_function(comp, search_root)
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
            task_ctx = TaskContext(metadata, run.run_context_id, execution_id, prepared.task)
            # the processes the step starts end with it (returned, failed, timed out, cancelled)
            with task_context(task_ctx), cpu_limit(tspec.resources.cpu), step_processes():
                value = call_user_code(
                    func,
                    kwargs,
                    task=prepared.task,
                    run_id=run.run_id,
                    timeout=tspec.timeout_seconds,
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
    launch: Launch | None = None,
) -> TaskResult:
    """Run one task end to end: the single entry every runner uses.

    Resolves inputs (from ``upstream`` or metadata), reuses a cached result when allowed and
    valid, otherwise calls the user's code inside the error boundary with retries and
    timeout, publishes outputs atomically and records the execution with its events.
    ``launch`` is the flow's decision for an instance inside control flow (``train[2]``).
    """
    prepared = prepare_task(
        spec,
        task,
        run,
        parameters,
        upstream or {},
        metadata,
        search_root=search_root,
        task_spec=launch.task_spec if launch is not None else None,
        base_task=launch.instance.task if launch is not None else None,
        scope=launch.instance.indices if launch is not None else None,
    )
    reason = "cache disabled for this run" if not use_cache else "cache disabled for this task"
    if use_cache and prepared.cache_enabled:
        comp = spec.components[prepared.component]
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
