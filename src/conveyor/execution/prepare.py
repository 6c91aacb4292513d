"""Prepare a task: resolve its inputs (from upstream results or metadata) and its cache key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conveyor._internal.importing import import_object
from conveyor.cache.code import code_fingerprint
from conveyor.cache.keys import CacheKey
from conveyor.cache.packages import distribution_versions
from conveyor.errors import (
    ExecutionError,
)
from conveyor.execution.results import ArtifactRef, RunInfo, TaskOutputs
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
from conveyor.metadata.entities import EventType, ExecutionState
from conveyor.metadata.store import MetadataStore

__all__ = [
    "PreparedTask",
    "component_function",
    "component_object",
    "load_task_outputs",
    "prepare_task",
]


@dataclass
class PreparedTask:
    """A task with its inputs resolved and its cache key computed (picklable)."""

    task: str
    component: str
    parameters: dict[str, Any]
    inputs: dict[str, ArtifactRef | list[ArtifactRef]]
    cache_key: CacheKey
    cache_enabled: bool
    task_spec: TaskSpec
    """The effective task: the pipeline's, or an instance's inside control flow (inputs
    lowered, run-time options resolved). Its retry, timeout and resources apply."""
    upstream_of_input: dict[str, str] = field(default_factory=dict)
    base_task: str | None = None
    """The pipeline task this is an instance of (``train`` for ``train[2]``)."""
    scope: dict[str, int] = field(default_factory=dict)
    """Iteration index by enclosing ``parallel_for``/``loop`` group."""
    in_process: bool = False
    """The component asks to run in the orchestrator's process (``@component(in_process=)``)."""

    @property
    def spec_task(self) -> str:
        """The pipeline task's name (the instance's own name outside control flow)."""
        return self.base_task or self.task

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


def component_function(comp: ComponentSpec, search_root: str | None) -> Any:
    """The plain Python function of ``comp``."""
    obj = component_object(comp, search_root)
    return getattr(obj, "python_func", obj)


def component_object(comp: ComponentSpec, search_root: str | None) -> Any:
    """What ``comp``'s implementation names: a ``Component`` or a plain function."""
    impl = comp.implementation
    try:
        obj = import_object(impl.module, impl.function, impl.source_file, search_root)
    except (ImportError, AttributeError, FileNotFoundError) as exc:
        raise ExecutionError(
            f"Cannot load component {comp.name!r} from {impl.module}.{impl.function}: {exc}. "
            "Make sure the pipeline's folder is the working directory or on PYTHONPATH"
        ) from exc
    return obj


def prepare_task(
    spec: PipelineSpec,
    task: str,
    run: RunInfo,
    parameters: Mapping[str, Any],
    upstream: Mapping[str, TaskOutputs],
    metadata: MetadataStore | None = None,
    *,
    search_root: str | None = None,
    task_spec: TaskSpec | None = None,
    base_task: str | None = None,
    scope: Mapping[str, int] | None = None,
) -> PreparedTask:
    """Resolve a task's inputs and compute its cache key.

    ``upstream`` holds the outputs of finished upstream tasks (or instances); a missing one is
    read from ``metadata`` (as when a remote runner starts the task on its own). An instance
    of a task inside control flow passes its lowered ``task_spec`` (see
    :class:`conveyor.execution.flow.Flow`), the pipeline task it comes from and its scope.
    """
    tspec: TaskSpec = task_spec or spec.tasks[task]
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
    obj = component_object(comp, search_root)
    func = getattr(obj, "python_func", obj)
    code = code_fingerprint(func)
    key_inputs: dict[str, str | list[str] | None] = {
        k: [a.fingerprint or "" for a in v] if isinstance(v, list) else v.fingerprint
        for k, v in inputs.items()
    }
    external = getattr(obj, "cache_inputs", None)
    if external is not None and tspec.cache:
        try:
            digests = external(**params)
        except Exception as exc:
            raise ExecutionError(
                f"Task {task!r}: cannot fingerprint its external inputs: {exc}", task=task
            ) from exc
        key_inputs.update({f"file:{name}": digest for name, digest in digests.items()})
    cache_key = CacheKey(
        component=comp.name,
        code=code.parts,
        parameters=params,
        inputs=key_inputs,
        env=CacheKey.environment(comp.cache_env),
        packages=comp.packages,
        versions=distribution_versions(code.modules),
    )
    return PreparedTask(
        task,
        comp.name,
        params,
        inputs,
        cache_key,
        tspec.cache,
        tspec,
        origin,
        base_task=base_task if base_task != task else None,
        scope=dict(scope or {}),
        in_process=bool(getattr(obj, "in_process", False)),
    )
