"""Building a pipeline: tasks, their outputs, parameters, and the binding of task inputs."""

from __future__ import annotations

import contextlib
import contextvars
import difflib
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from conveyor.dsl.annotations import (
    coerce_value,
    json_literal_matches,
)
from conveyor.dsl.component import SINGLE_OUTPUT, Component
from conveyor.errors import DefinitionError, PipelineValidationError
from conveyor.ir.spec import (
    ComponentSpec,
    Constant,
    ListRef,
    ParameterSpec,
    PipelineParameterRef,
    Resources,
    RetryPolicy,
    TaskOutputRef,
    ValueRef,
)
from conveyor.ir.validate import param_type_compatible
from conveyor.types.artifacts import is_compatible

__all__ = ["Builder", "OutputRef", "PipelineParam", "Task", "add_task", "building"]

_BUILDER: contextvars.ContextVar[Builder | None] = contextvars.ContextVar(
    "conveyor_pipeline_builder", default=None
)


class PipelineParam:
    """Placeholder for a pipeline parameter while the pipeline function runs."""

    def __init__(self, name: str, spec: ParameterSpec):
        self.name = name
        self.spec = spec

    def __repr__(self) -> str:
        return f"PipelineParam({self.name!r})"

    def __bool__(self) -> bool:
        raise DefinitionError(
            f"Pipeline parameter {self.name!r} has no value while the pipeline is built, so it "
            "cannot drive a Python `if`. Pass it to a component, or use a control-flow group"
        )


class OutputRef:
    """A reference to one output of a task, to pass to another task's input."""

    def __init__(self, task: Task, name: str, kind: str, type_: str, nullable: bool = False):
        self.task = task
        self.name = name
        self.kind = kind  # "artifact" | "parameter"
        self.type = type_
        self.nullable = nullable

    def __repr__(self) -> str:
        return f"OutputRef({self.task.name!r}, {self.name!r})"

    def __bool__(self) -> bool:
        raise DefinitionError(
            f"Output {self.name!r} of task {self.task.name!r} has no value while the pipeline is "
            "built, so it cannot drive a Python `if`. Pass it to a component instead"
        )


class Task:
    """A call of a component in a pipeline. Configure it with the ``set_*`` methods."""

    def __init__(self, builder: Builder, name: str, component: Component, inputs: dict[str, Any]):
        self._builder = builder
        self.name = name
        self.component = component
        self.inputs: dict[str, ValueRef] = inputs
        self.after_tasks: list[str] = []
        spec = component.spec
        self.retry: RetryPolicy = spec.retry
        self.timeout_seconds: float | None = spec.timeout_seconds
        self.resources: Resources = spec.resources
        self.cache: bool = spec.cache
        self.display_name: str | None = None
        self.outputs: dict[str, OutputRef] = {
            **{
                k: OutputRef(self, k, "parameter", p.type, p.nullable)
                for k, p in spec.output_parameters.items()
            },
            **{k: OutputRef(self, k, "artifact", a.type) for k, a in spec.output_artifacts.items()},
        }

    @property
    def output(self) -> OutputRef:
        """The task's single output (the return value, or its only artifact)."""
        if SINGLE_OUTPUT in self.outputs:
            return self.outputs[SINGLE_OUTPUT]
        if len(self.outputs) == 1:
            return next(iter(self.outputs.values()))
        raise DefinitionError(
            f"Task {self.name!r} has {len(self.outputs)} outputs "
            f"{sorted(self.outputs)!r}; pick one with .outputs[NAME]"
        )

    def after(self, *tasks: Task) -> Task:
        """Run this task only after ``tasks`` succeed, without passing data."""
        for t in tasks:
            if not isinstance(t, Task):
                raise TypeError(f"after() takes tasks, got {t!r}")
            if t._builder is not self._builder:
                raise DefinitionError(
                    f"Task {self.name!r} cannot run after task {t.name!r}: it belongs to another "
                    "pipeline (or an earlier build). Use tasks created in this pipeline function"
                )
            self.after_tasks.append(t.name)
        return self

    def set_retry(
        self,
        max_retries: int,
        backoff_seconds: float = 1.0,
        backoff_factor: float = 2.0,
        backoff_max_seconds: float = 60.0,
    ) -> Task:
        """Override the component's retry policy for this task."""
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.retry = RetryPolicy(max_retries, backoff_seconds, backoff_factor, backoff_max_seconds)
        return self

    def set_timeout(self, seconds: float | None) -> Task:
        """Override the component's timeout for this task."""
        if seconds is not None and seconds <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {seconds!r}")
        self.timeout_seconds = seconds
        return self

    def set_resources(
        self,
        *,
        cpu: float | None = None,
        memory: str | None = None,
        gpu: int | None = None,
        gpu_type: str | None = None,
    ) -> Task:
        """Override resources for this task (unset arguments keep the component's values)."""
        r = self.resources
        self.resources = Resources(
            cpu=cpu if cpu is not None else r.cpu,
            memory=memory if memory is not None else r.memory,
            gpu=gpu if gpu is not None else r.gpu,
            gpu_type=gpu_type if gpu_type is not None else r.gpu_type,
        )
        return self

    def set_caching(self, enabled: bool) -> Task:
        """Turn result reuse on or off for this task."""
        self.cache = bool(enabled)
        return self

    def set_display_name(self, name: str) -> Task:
        """A human name for UIs (the task name stays the identity)."""
        self.display_name = name
        return self

    def __repr__(self) -> str:
        return f"<task {self.name!r} of {self.component.name!r}>"


@contextlib.contextmanager
def building(name: str, params: dict[str, ParameterSpec]) -> Iterator[Builder]:
    """Collect the tasks that component calls add while the block runs."""
    builder = Builder(name, params)
    token = _BUILDER.set(builder)
    try:
        yield builder
    finally:
        _BUILDER.reset(token)


class Builder:
    """The tasks and components of the pipeline being built."""

    def __init__(self, name: str, params: dict[str, ParameterSpec]):
        self.name = name
        self.params = params
        self.tasks: dict[str, Task] = {}
        self.components: dict[str, Component] = {}

    def unique_name(self, base: str) -> str:
        if base not in self.tasks:
            return base
        n = 2
        while f"{base}-{n}" in self.tasks:
            n += 1
        return f"{base}-{n}"


def add_task(component: Component, kwargs: dict[str, Any], frame: FrameType | None) -> Task:
    """Add a call of ``component`` to the pipeline being built (used by ``Component.__call__``)."""
    builder = _BUILDER.get()
    source_file = frame.f_code.co_filename if frame else None
    lineno = frame.f_lineno if frame else None
    spec = component.spec
    if builder is None:
        raise DefinitionError(
            f"Component {spec.name!r} was called outside a @pipeline function. Call it inside "
            f"one to add a task, or call {component.__name__}.python_func(...) to run the plain "
            "function",
            source_file=source_file,
            lineno=lineno,
        )
    existing = builder.components.get(spec.name)
    # The IR keeps one ComponentSpec per name, so two components (or one function wrapped twice
    # with different options) under the same name cannot both be used.
    if existing is not None and existing is not component and existing.spec != spec:
        first = existing.spec.implementation
        second = spec.implementation
        what = (
            f"({first.module}.{first.function} and {second.module}.{second.function})"
            if first != second
            else f"({first.module}.{first.function} wrapped twice with different options)"
        )
        raise DefinitionError(
            f"Two different components are named {spec.name!r} {what}. "
            "Rename one with @component(name=...)",
            source_file=source_file,
            lineno=lineno,
        )
    builder.components[spec.name] = component
    task_name = builder.unique_name(spec.name)

    def fail(message: str) -> PipelineValidationError:
        return PipelineValidationError(
            f"Task {task_name!r} ({spec.name}): {message}", source_file=source_file, lineno=lineno
        )

    bound: dict[str, ValueRef] = {}
    valid = sorted([*spec.input_parameters, *spec.input_artifacts])
    for key, value in kwargs.items():
        if key in spec.output_artifacts:
            raise fail(
                f"{key!r} is an output of {spec.name!r}; the task creates it, do not pass it. "
                f"Read it downstream as task.outputs[{key!r}]"
            )
        value = _resolve_task(key, value, builder, fail)
        if key in spec.input_artifacts:
            bound[key] = _bind_artifact(key, value, spec, fail)
        elif key in spec.input_parameters:
            bound[key] = _bind_param(key, value, spec.input_parameters[key], builder, fail)
        else:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise fail(f"unknown input {key!r}; its inputs are {valid!r}.{hint}")
    for key, pspec in spec.input_parameters.items():
        if key not in bound and not pspec.has_default:
            raise fail(f"missing required parameter {key!r} ({pspec.type}). Pass {key}=...")
    for key, aspec in spec.input_artifacts.items():
        if key not in bound and not aspec.optional:
            raise fail(
                f"missing required input {key!r} ({aspec.type}). Connect it to an upstream "
                f"output, e.g. {key}=other_task.outputs['...']"
            )
    task = Task(builder, task_name, component, bound)
    builder.tasks[task_name] = task
    return task


def _resolve_task(
    key: str, value: Any, builder: Builder, fail: Callable[[str], PipelineValidationError]
) -> Any:
    """Replace a Task by its single output; reject references to another pipeline's tasks."""
    if isinstance(value, list | tuple):
        return type(value)(_resolve_task(key, v, builder, fail) for v in value)
    if isinstance(value, Task):
        outputs = value.outputs
        if SINGLE_OUTPUT not in outputs and len(outputs) != 1:
            raise fail(
                f"input {key!r} got task {value.name!r}, which has {len(outputs)} outputs "
                f"{sorted(outputs)!r}. Pick one: {value.name}.outputs['NAME']"
            )
        value = value.output
    if isinstance(value, OutputRef) and builder.tasks.get(value.task.name) is not value.task:
        raise fail(
            f"input {key!r} got output {value.name!r} of task {value.task.name!r}, which belongs "
            "to another pipeline (or an earlier build). Use outputs of tasks created in this "
            "pipeline function"
        )
    return value


def _bind_artifact(
    key: str, value: Any, spec: ComponentSpec, fail: Callable[[str], PipelineValidationError]
) -> ValueRef:
    aspec = spec.input_artifacts[key]
    expected = aspec.type
    if aspec.is_list:
        if not isinstance(value, list | tuple):
            raise fail(
                f"input {key!r} takes a list of {expected} artifacts (fan-in); pass a list of "
                "task outputs, e.g. [t.outputs['out'] for t in tasks]"
            )
        return ListRef(tuple(_one_artifact(key, v, expected, fail) for v in value))
    if isinstance(value, list | tuple):
        raise fail(
            f"input {key!r} takes one {expected} artifact, got a list. Declare it as "
            f"Input[list[...]] to fan in several outputs"
        )
    return _one_artifact(key, value, expected, fail)


def _one_artifact(
    key: str, value: Any, expected: str, fail: Callable[[str], PipelineValidationError]
) -> TaskOutputRef:
    if isinstance(value, Task):
        value = value.output
    if not isinstance(value, OutputRef):
        raise fail(
            f"input {key!r} expects an artifact ({expected}) from an upstream task, got "
            f"{value!r}. Pass other_task.outputs['NAME']"
        )
    if value.kind != "artifact":
        raise fail(
            f"input {key!r} expects {expected}, got parameter {value.name!r} ({value.type}) from "
            f"task {value.task.name!r}. Connect an artifact output instead"
        )
    if not is_compatible(value.type, expected):
        raise fail(
            f"input {key!r} expects {expected}, got {value.type} from task {value.task.name!r} "
            f"output {value.name!r}. Connect a {expected.split('@')[0]} output or change the "
            "annotation"
        )
    return TaskOutputRef(value.task.name, value.name)


def _bind_param(
    key: str,
    value: Any,
    pspec: ParameterSpec,
    builder: Builder,
    fail: Callable[[str], PipelineValidationError],
) -> ValueRef:
    if isinstance(value, Task):
        value = value.output
    if isinstance(value, OutputRef):
        if value.kind != "parameter":
            raise fail(
                f"parameter {key!r} ({pspec.type}) is bound to artifact {value.name!r} of task "
                f"{value.task.name!r}. Declare the input as Input[...] or pass a parameter output"
            )
        if not param_type_compatible(value.type, pspec.type):
            raise fail(
                f"parameter {key!r} expects {pspec.type}, got {value.type} from task "
                f"{value.task.name!r} output {value.name!r}"
            )
        return TaskOutputRef(value.task.name, value.name)
    if isinstance(value, list | tuple) and any(
        isinstance(v, OutputRef | PipelineParam | Task) for v in value
    ):
        if pspec.type not in ("array", "any"):
            raise fail(f"parameter {key!r} expects {pspec.type}, got a list {value!r}")
        item_spec = ParameterSpec(type="any", nullable=True)
        return ListRef(tuple(_bind_param(key, v, item_spec, builder, fail) for v in value))
    if isinstance(value, PipelineParam):
        if value.name not in builder.params:
            raise fail(f"uses pipeline parameter {value.name!r} of another pipeline")
        if not param_type_compatible(value.spec.type, pspec.type):
            raise fail(
                f"parameter {key!r} expects {pspec.type}, got pipeline parameter "
                f"{value.name!r} of type {value.spec.type}"
            )
        return PipelineParameterRef(value.name)
    if not json_literal_matches(value, pspec.type, pspec.nullable):
        raise fail(f"parameter {key!r} expects {pspec.type}, got {value!r}")
    if pspec.enum is not None and value is not None and value not in pspec.enum:
        raise fail(f"parameter {key!r} must be one of {list(pspec.enum)!r}, got {value!r}")
    return Constant(coerce_value(value, pspec.type))
