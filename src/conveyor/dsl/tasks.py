"""Building a pipeline: tasks, their outputs, parameters, and the binding of task inputs."""

from __future__ import annotations

import abc
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

from conveyor._internal.units import parse_memory
from conveyor.dsl.annotations import (
    coerce_value,
    json_literal_matches,
)
from conveyor.dsl.builder import Builder, get_builder
from conveyor.dsl.component import SINGLE_OUTPUT, Component
from conveyor.dsl.conditions import ConditionExpr, RuntimeValue, caller_location, fail_here
from conveyor.errors import DefinitionError, PipelineValidationError
from conveyor.ir.spec import (
    ArtifactSpec,
    ComponentSpec,
    Constant,
    ListRef,
    OneOfRef,
    ParameterSpec,
    PipelineParameterRef,
    Resources,
    RetryPolicy,
    TaskOutputRef,
    ValueRef,
)
from conveyor.ir.validate import param_type_compatible
from conveyor.types.artifacts import is_compatible

__all__ = [
    "BindSite",
    "OutputRef",
    "PipelineParam",
    "Placeholder",
    "Task",
    "TaskOutputs",
    "add_task",
    "bind_value",
    "ref_tasks",
    "scoped",
]


class PipelineParam(RuntimeValue):
    """Placeholder for a pipeline parameter while the pipeline function runs.

    Pass it to a component, compare it in a condition (``conveyor.If(mode == "full")``), or
    give it to a task's ``set_*`` option to decide that option when the run starts.
    """

    def __init__(self, name: str, spec: ParameterSpec):
        self.name = name
        self.spec = spec

    __hash__ = RuntimeValue.__hash__  # identity: comparisons build conditions, not booleans

    def condition_operand(self) -> tuple[ValueRef, str | None]:
        return PipelineParameterRef(self.name), self.spec.type

    def describe(self) -> str:
        return f"pipeline parameter {self.name!r}"

    def __repr__(self) -> str:
        return f"PipelineParam({self.name!r})"


class OutputRef(RuntimeValue):
    """A reference to one output of a task, to pass to another task's input.

    A parameter output may also be compared in a condition (``conveyor.If(acc > 0.9)``) or
    given to a task's ``set_*`` option.
    """

    def __init__(self, task: Task, name: str, kind: str, type_: str, nullable: bool = False):
        self.task = task
        self.name = name
        self.kind = kind  # "artifact" | "parameter"
        self.type = type_
        self.nullable = nullable

    __hash__ = RuntimeValue.__hash__  # identity: comparisons build conditions, not booleans

    def condition_operand(self) -> tuple[ValueRef, str | None]:
        if get_builder() is not self.task._builder:
            raise fail_here(
                f"Output {self.name!r} of task {self.task.name!r} belongs to another pipeline "
                "(or an earlier build); compare outputs of tasks created in this pipeline function"
            )
        if self.kind != "parameter":
            raise fail_here(
                f"Output {self.name!r} of task {self.task.name!r} is an artifact ({self.type}), "
                "and a condition compares parameter values. Compare a parameter output instead, "
                "e.g. a metric the step returns"
            )
        return TaskOutputRef(self.task.name, self.name), self.type

    def describe(self) -> str:
        return f"output {self.name!r} of task {self.task.name!r}"

    def __repr__(self) -> str:
        return f"OutputRef({self.task.name!r}, {self.name!r})"


class TaskOutputs(dict[str, OutputRef]):
    """A task's outputs by name; an unknown name raises a DefinitionError naming the known ones."""

    def __init__(self, task: str, outputs: dict[str, OutputRef]):
        super().__init__(outputs)
        self.task = task

    def __missing__(self, key: str) -> OutputRef:
        known = sorted(self)
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise fail_here(
            f"Task {self.task!r} has no output {key!r}; its outputs are {known!r}.{hint}"
        )


class Placeholder(abc.ABC):
    """A value that binds to a task input in its own way (a loop item, a carried value,
    collected outputs, ``OneOf(...)``, ``RunStatus``)."""

    @abc.abstractmethod
    def bind(self, site: BindSite, spec: ParameterSpec | ArtifactSpec) -> ValueRef:
        """The reference that feeds input ``site.key`` (declared as ``spec``)."""


@dataclass
class BindSite:
    """Where a value is being bound: an input (or option) ``key`` of task ``task`` in ``group``."""

    builder: Builder
    task: str
    key: str
    group: str | None
    fail: Callable[[str], DefinitionError]


_OPTION_TYPES = {
    "cpu": "number",
    "memory": "string",
    "gpu": "integer",
    "max_retries": "integer",
    "timeout_seconds": "number",
}


class Task:
    """A call of a component in a pipeline. Configure it with the ``set_*`` methods."""

    def __init__(
        self,
        builder: Builder,
        name: str,
        component: Component,
        inputs: dict[str, Any],
        group: str | None = None,
    ):
        self._builder = builder
        self.name = name
        self.component = component
        self.inputs: dict[str, ValueRef] = inputs
        self.group = group
        self.after_tasks: list[str] = []
        self.dynamic: dict[str, ValueRef] = {}
        spec = component.spec
        self.retry: RetryPolicy = spec.retry
        self.timeout_seconds: float | None = spec.timeout_seconds
        self.resources: Resources = spec.resources
        self.cache: bool = spec.cache
        self.display_name: str | None = None
        self.outputs = TaskOutputs(
            name,
            {
                **{
                    k: OutputRef(self, k, "parameter", p.type, p.nullable)
                    for k, p in spec.output_parameters.items()
                },
                **{
                    k: OutputRef(self, k, "artifact", a.type)
                    for k, a in spec.output_artifacts.items()
                },
            },
        )

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

    def dependencies(self) -> set[str]:
        """The tasks this one runs after: ``after()``, and the producers of its inputs and
        run-time options. A carried value is none (it would be a cycle), and the producers of
        a group's condition or items are the engine's business, not the tasks inside."""
        return set(self.after_tasks).union(
            *(ref_tasks(ref) for ref in [*self.inputs.values(), *self.dynamic.values()])
        )

    def _runtime_option(self, method: str, key: str, value: Any) -> bool:
        """Bind option ``key`` to ``value`` if that is known only at run time (in
        ``self.dynamic``); return False for a literal, which the caller applies."""
        if not isinstance(value, RuntimeValue | Placeholder | Task | ConditionExpr):
            self.dynamic.pop(key, None)
            return False
        source_file, lineno = caller_location()

        def fail(message: str) -> PipelineValidationError:
            return PipelineValidationError(
                f"Task {self.name!r} ({self.component.name}): {method}({key}=...): {message}",
                source_file=source_file,
                lineno=lineno,
            )

        expected = _OPTION_TYPES[key]
        produced = value.type if isinstance(value, OutputRef) else None
        produced = value.spec.type if isinstance(value, PipelineParam) else produced
        if key == "memory" and produced == "integer":
            expected = "integer"  # a number of bytes
        site = BindSite(self._builder, self.name, key, self.group, fail)
        ref = bind_value(site, value, ParameterSpec(type=expected))
        if self.name in ref_tasks(ref):
            raise fail("an option of a task cannot come from the task's own output")
        self.dynamic[key] = ref
        return True

    def set_retry(
        self,
        max_retries: int | RuntimeValue,
        backoff_seconds: float = 1.0,
        backoff_factor: float = 2.0,
        backoff_max_seconds: float = 60.0,
    ) -> Task:
        """Override the component's retry policy for this task.

        ``max_retries`` may be a pipeline parameter or a parameter output of an earlier task:
        the count is then decided when the task starts.
        """
        if self._runtime_option("set_retry", "max_retries", max_retries):
            count = self.retry.max_retries
        else:
            if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
                raise ValueError(f"max_retries must be >= 0, got {max_retries!r}")
            count = max_retries
        self.retry = RetryPolicy(count, backoff_seconds, backoff_factor, backoff_max_seconds)
        return self

    def set_timeout(self, seconds: float | RuntimeValue | None) -> Task:
        """Override the component's timeout for this task (``None`` removes it).

        ``seconds`` may be a pipeline parameter or a parameter output of an earlier task.
        """
        if seconds is not None and self._runtime_option("set_timeout", "timeout_seconds", seconds):
            return self
        self.dynamic.pop("timeout_seconds", None)
        if seconds is not None and (
            not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0
        ):
            raise ValueError(f"timeout must be > 0 seconds, got {seconds!r}")
        self.timeout_seconds = seconds
        return self

    def set_resources(
        self,
        *,
        cpu: float | RuntimeValue | None = None,
        memory: str | RuntimeValue | None = None,
        gpu: int | RuntimeValue | None = None,
        gpu_type: str | None = None,
    ) -> Task:
        """Override resources for this task (unset arguments keep the component's values).

        ``memory`` is a size like ``"512Mi"``, ``"2Gi"``, ``"1G"`` or ``"1024"`` (bytes).
        ``cpu``, ``memory`` and ``gpu`` may be a pipeline parameter or a parameter output of an
        earlier task: the value is then decided when the task starts.

        Raises:
            DefinitionError: a literal value is invalid (cpu <= 0, gpu < 0, an unknown
                memory suffix).
        """
        r = self.resources
        where = f"Task {self.name!r}: set_resources"
        if cpu is not None and not self._runtime_option("set_resources", "cpu", cpu):
            if isinstance(cpu, bool) or not isinstance(cpu, int | float) or cpu <= 0:
                raise fail_here(f"{where}(cpu=...): cpu must be a number > 0, got {cpu!r}")
            r = Resources(cpu, r.memory, r.gpu, r.gpu_type)
        if memory is not None and not self._runtime_option("set_resources", "memory", memory):
            try:
                parse_memory(memory)  # type: ignore[arg-type]
            except ValueError as exc:
                raise fail_here(f"{where}(memory=...): {exc}") from None
            r = Resources(r.cpu, str(memory), r.gpu, r.gpu_type)
        if gpu is not None and not self._runtime_option("set_resources", "gpu", gpu):
            if isinstance(gpu, bool) or not isinstance(gpu, int) or gpu < 0:
                raise fail_here(f"{where}(gpu=...): gpu must be a whole number >= 0, got {gpu!r}")
            r = Resources(r.cpu, r.memory, gpu, r.gpu_type)
        if gpu_type is not None:
            r = Resources(r.cpu, r.memory, r.gpu, gpu_type)
        self.resources = r
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


def ref_tasks(ref: ValueRef) -> set[str]:
    """The tasks whose outputs ``ref`` reads (the dependencies it adds)."""
    if isinstance(ref, ListRef | OneOfRef):
        return {t for item in ref.items for t in ref_tasks(item)}
    task = getattr(ref, "task", None)  # TaskOutputRef and CollectedRef
    return {task} if isinstance(task, str) else set()


def add_task(component: Component, kwargs: dict[str, Any], frame: FrameType | None) -> Task:
    """Add a call of ``component`` to the pipeline being built (used by ``Component.__call__``)."""
    builder = get_builder()
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
    group = builder.current_group
    for key, value in kwargs.items():
        if key in spec.output_artifacts:
            raise fail(
                f"{key!r} is an output of {spec.name!r}; the task creates it, do not pass it. "
                f"Read it downstream as task.outputs[{key!r}]"
            )
        site = BindSite(builder, task_name, key, group, fail)
        if key in spec.input_artifacts:
            bound[key] = bind_value(site, value, spec.input_artifacts[key])
        elif key in spec.input_parameters:
            bound[key] = bind_value(site, value, spec.input_parameters[key])
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
    if component.check_params is not None:
        _check_params(component.check_params, spec, bound, fail)
    task = Task(builder, task_name, component, bound, group)
    builder.tasks[task_name] = task
    builder.branches = None  # an Elif or Else must follow its If directly
    return task


def bind_value(site: BindSite, value: Any, spec: ParameterSpec | ArtifactSpec) -> ValueRef:
    """The reference that feeds input ``site.key`` (declared as ``spec``) with ``value``."""
    value = _resolve_task(site, value)
    if isinstance(value, ConditionExpr):
        raise site.fail(
            f"input {site.key!r} got a condition, which has no value to pass. Pass a value, or "
            "run tasks only when the condition holds with `with conveyor.If(...):`"
        )
    if isinstance(value, Placeholder):
        return value.bind(site, spec)
    if isinstance(spec, ArtifactSpec):
        return _bind_artifact(site, value, spec)
    return _bind_param(site, value, spec)


def _resolve_task(site: BindSite, value: Any) -> Any:
    """Replace a Task by its single output; reject references to another pipeline's tasks."""
    key = site.key
    if isinstance(value, list | tuple):
        return type(value)(_resolve_task(site, v) for v in value)
    if isinstance(value, Task):
        outputs = value.outputs
        if SINGLE_OUTPUT not in outputs and len(outputs) != 1:
            raise site.fail(
                f"input {key!r} got task {value.name!r}, which has {len(outputs)} outputs "
                f"{sorted(outputs)!r}. Pick one: {value.name}.outputs['NAME']"
            )
        value = value.output
    if isinstance(value, OutputRef) and site.builder.tasks.get(value.task.name) is not value.task:
        raise site.fail(
            f"input {key!r} got output {value.name!r} of task {value.task.name!r}, which belongs "
            "to another pipeline (or an earlier build). Use outputs of tasks created in this "
            "pipeline function"
        )
    return value


def scoped(site: BindSite, ref: ValueRef) -> ValueRef:
    """``ref``, once checked that input ``site.key`` may use it from inside ``site.group``."""
    problem = site.builder.scope_problem(ref, site.group)
    if problem:
        raise site.fail(f"input {site.key!r} {problem}")
    return ref


def _bind_artifact(site: BindSite, value: Any, aspec: ArtifactSpec) -> ValueRef:
    key, expected = site.key, aspec.type
    if aspec.is_list:
        if not isinstance(value, list | tuple):
            raise site.fail(
                f"input {key!r} takes a list of {expected} artifacts (fan-in); pass a list of "
                "task outputs, e.g. [t.outputs['out'] for t in tasks], or "
                "conveyor.Collected(t.outputs['out']) for a task inside a ParallelFor or Loop"
            )
        return ListRef(tuple(_one_artifact(site, v, expected) for v in value))
    if isinstance(value, list | tuple):
        raise site.fail(
            f"input {key!r} takes one {expected} artifact, got a list. Declare it as "
            f"Input[list[...]] to fan in several outputs"
        )
    return _one_artifact(site, value, expected)


def _one_artifact(site: BindSite, value: Any, expected: str) -> ValueRef:
    key = site.key
    if not isinstance(value, OutputRef):
        raise site.fail(
            f"input {key!r} expects an artifact ({expected}) from an upstream task, got "
            f"{value!r}. Pass other_task.outputs['NAME']"
        )
    if value.kind != "artifact":
        raise site.fail(
            f"input {key!r} expects {expected}, got parameter {value.name!r} ({value.type}) from "
            f"task {value.task.name!r}. Connect an artifact output instead"
        )
    if not is_compatible(value.type, expected):
        raise site.fail(
            f"input {key!r} expects {expected}, got {value.type} from task {value.task.name!r} "
            f"output {value.name!r}. Connect a {expected.split('@')[0]} output or change the "
            "annotation"
        )
    return scoped(site, TaskOutputRef(value.task.name, value.name))


def _bind_param(site: BindSite, value: Any, pspec: ParameterSpec) -> ValueRef:
    key = site.key
    if isinstance(value, OutputRef):
        if value.kind != "parameter":
            raise site.fail(
                f"parameter {key!r} ({pspec.type}) is bound to artifact {value.name!r} of task "
                f"{value.task.name!r}. Declare the input as Input[...] or pass a parameter output"
            )
        if not param_type_compatible(value.type, pspec.type):
            raise site.fail(
                f"parameter {key!r} expects {pspec.type}, got {value.type} from task "
                f"{value.task.name!r} output {value.name!r}"
            )
        return scoped(site, TaskOutputRef(value.task.name, value.name))
    if isinstance(value, list | tuple) and any(
        isinstance(v, RuntimeValue | Placeholder) for v in value
    ):
        if pspec.type not in ("array", "any"):
            raise site.fail(f"parameter {key!r} expects {pspec.type}, got a list {value!r}")
        item_spec = ParameterSpec(type="any", nullable=True)
        return ListRef(tuple(bind_value(site, v, item_spec) for v in value))
    if isinstance(value, PipelineParam):
        if value.name not in site.builder.params:
            raise site.fail(f"uses pipeline parameter {value.name!r} of another pipeline")
        if not param_type_compatible(value.spec.type, pspec.type):
            raise site.fail(
                f"parameter {key!r} expects {pspec.type}, got pipeline parameter "
                f"{value.name!r} of type {value.spec.type}"
            )
        return PipelineParameterRef(value.name)
    if not json_literal_matches(value, pspec.type, pspec.nullable):
        raise site.fail(f"parameter {key!r} expects {pspec.type}, got {value!r}")
    if pspec.enum is not None and value is not None and value not in pspec.enum:
        raise site.fail(f"parameter {key!r} must be one of {list(pspec.enum)!r}, got {value!r}")
    return Constant(coerce_value(value, pspec.type))


def _check_params(
    check: Callable[[Mapping[str, Any]], None],
    spec: ComponentSpec,
    bound: Mapping[str, ValueRef],
    fail: Callable[[str], PipelineValidationError],
) -> None:
    """Run a component's ``check_params`` on the literal parameter values of a new task."""
    values: dict[str, Any] = {}
    for key, pspec in spec.input_parameters.items():
        ref = bound.get(key)
        if isinstance(ref, Constant):
            values[key] = ref.value
        elif ref is None and pspec.has_default:
            values[key] = pspec.default
    try:
        check(values)
    except ValueError as exc:
        raise fail(str(exc)) from None
