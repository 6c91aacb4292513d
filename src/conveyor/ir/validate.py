"""Lint checks over a PipelineSpec: each is a small registered function yielding problems."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from conveyor.errors import PipelineValidationError
from conveyor.ir.spec import (
    PARAMETER_TYPES,
    CollectedRef,
    Condition,
    ListRef,
    LoopItemRef,
    PipelineParameterRef,
    PipelineSpec,
    TaskOutputRef,
    ValueRef,
)
from conveyor.types.artifacts import is_compatible

__all__ = ["CHECKS", "check", "validate"]

Check = Callable[[PipelineSpec], Iterator[str]]
CHECKS: list[Check] = []


def check(fn: Check) -> Check:
    """Register a lint check."""
    CHECKS.append(fn)
    return fn


def validate(spec: PipelineSpec) -> None:
    """Run every check; raise one :class:`PipelineValidationError` listing all problems."""
    problems = [p for fn in CHECKS for p in fn(spec)]
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise PipelineValidationError(f"Pipeline {spec.name!r} is not valid:\n{listing}")


def param_type_compatible(produced: str, expected: str) -> bool:
    """Whether a parameter of JSON type ``produced`` may feed one of type ``expected``."""
    return (
        produced == expected
        or "any" in (produced, expected)
        or (produced == "integer" and expected == "number")
    )


@check
def _known_components(spec: PipelineSpec) -> Iterator[str]:
    for name, task in spec.tasks.items():
        if task.component not in spec.components:
            yield f"task {name!r} calls unknown component {task.component!r}"


@check
def _parameter_types(spec: PipelineSpec) -> Iterator[str]:
    for name, p in spec.parameters.items():
        if p.type not in PARAMETER_TYPES:
            yield f"pipeline parameter {name!r} has unknown type {p.type!r}"
    for cname, comp in spec.components.items():
        for kind, params in (("input", comp.input_parameters), ("output", comp.output_parameters)):
            for pname, p in params.items():
                if p.type not in PARAMETER_TYPES:
                    yield f"component {cname!r} {kind} {pname!r} has unknown type {p.type!r}"


def _refs(value: ValueRef | Condition) -> Iterator[ValueRef]:
    if isinstance(value, Condition):
        for arg in value.args:
            yield from _refs(arg)
    elif isinstance(value, ListRef):
        for item in value.items:
            yield from _refs(item)
    else:
        yield value


def _output_type(spec: PipelineSpec, ref: TaskOutputRef | CollectedRef) -> tuple[str, str] | None:
    """('artifact'|'parameter', type) of an upstream output, or None if it does not exist."""
    task = spec.tasks.get(ref.task)
    if task is None or task.component not in spec.components:
        return None
    comp = spec.components[task.component]
    if ref.output in comp.output_artifacts:
        return ("artifact", comp.output_artifacts[ref.output].type)
    if ref.output in comp.output_parameters:
        return ("parameter", comp.output_parameters[ref.output].type)
    return None


@check
def _bindings(spec: PipelineSpec) -> Iterator[str]:
    for name, task in spec.tasks.items():
        comp = spec.components.get(task.component)
        if comp is None:
            continue
        for key in task.inputs:
            if key not in comp.input_parameters and key not in comp.input_artifacts:
                yield f"task {name!r} binds unknown input {key!r} of component {comp.name!r}"
        for key, pspec in comp.input_parameters.items():
            if key not in task.inputs and not pspec.has_default:
                yield f"task {name!r} leaves required parameter {key!r} unbound"
        for key, aspec in comp.input_artifacts.items():
            if key not in task.inputs and not aspec.optional:
                yield f"task {name!r} leaves required artifact input {key!r} unbound"
        for key, ref in task.inputs.items():
            for r in _refs(ref):
                yield from _check_ref(spec, name, key, r)
            if key in comp.input_artifacts:
                aspec = comp.input_artifacts[key]
                if isinstance(ref, ListRef) and not aspec.is_list:
                    yield f"task {name!r} input {key!r} takes one artifact, not a list"
                items = ref.items if isinstance(ref, ListRef) else (ref,)
                for item in items:
                    yield from _check_artifact_source(spec, name, key, aspec.type, item)


def _check_artifact_source(
    spec: PipelineSpec, task: str, key: str, expected: str, ref: ValueRef
) -> Iterator[str]:
    if not isinstance(ref, TaskOutputRef | CollectedRef):
        yield f"task {task!r} artifact input {key!r} must come from a task output, not {ref!r}"
        return
    found = _output_type(spec, ref)
    if found and found[0] == "artifact" and not is_compatible(found[1], expected):
        yield (
            f"task {task!r} input {key!r} expects {expected}, got {found[1]} from "
            f"task {ref.task!r} output {ref.output!r}"
        )
    if found and found[0] == "parameter":
        yield f"task {task!r} artifact input {key!r} is bound to a parameter output"


def _check_ref(spec: PipelineSpec, task: str, key: str, ref: ValueRef) -> Iterator[str]:
    if isinstance(ref, PipelineParameterRef) and ref.name not in spec.parameters:
        yield f"task {task!r} input {key!r} uses unknown pipeline parameter {ref.name!r}"
    elif isinstance(ref, TaskOutputRef | CollectedRef):
        if ref.task not in spec.tasks:
            yield f"task {task!r} input {key!r} uses output of unknown task {ref.task!r}"
        elif _output_type(spec, ref) is None:
            yield f"task {task!r} input {key!r} uses unknown output {ref.output!r} of {ref.task!r}"
        elif ref.task not in spec.tasks[task].depends_on:
            yield f"task {task!r} uses {ref.task!r} but does not list it in depends_on"
    elif isinstance(ref, LoopItemRef) and ref.group not in spec.groups:
        yield f"task {task!r} input {key!r} uses the item of unknown loop group {ref.group!r}"


@check
def _dependencies(spec: PipelineSpec) -> Iterator[str]:
    for name, task in spec.tasks.items():
        for dep in task.depends_on:
            if dep not in spec.tasks:
                yield f"task {name!r} depends on unknown task {dep!r}"
            elif dep == name:
                yield f"task {name!r} depends on itself"
    try:
        spec.topological_order()
    except ValueError as exc:
        yield str(exc)


@check
def _groups(spec: PipelineSpec) -> Iterator[str]:
    for name, group in spec.groups.items():
        if group.parent is not None and group.parent not in spec.groups:
            yield f"group {name!r} has unknown parent {group.parent!r}"
        if group.kind == "condition" and group.condition is None:
            yield f"condition group {name!r} has no condition"
        if group.kind == "parallel_for":
            if group.items is None:
                yield f"parallel_for group {name!r} has no items"
            if group.parallelism is not None and group.parallelism < 1:
                yield f"parallel_for group {name!r} has parallelism {group.parallelism} (< 1)"
        if group.kind == "loop" and (group.max_iterations is None or group.max_iterations < 1):
            yield f"loop group {name!r} must be bounded: set max_iterations >= 1"
        if group.kind == "exit_handler" and group.handler_task not in spec.tasks:
            yield f"exit_handler group {name!r} names unknown handler task {group.handler_task!r}"
    for name, task in spec.tasks.items():
        if task.group is not None and task.group not in spec.groups:
            yield f"task {name!r} is in unknown group {task.group!r}"
