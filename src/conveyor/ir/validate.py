"""Lint checks over a PipelineSpec: each is a small registered function yielding problems."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from conveyor._internal.names import name_problem
from conveyor.errors import PipelineValidationError
from conveyor.ir.spec import (
    COMPARISON_OPS,
    DYNAMIC_OPTIONS,
    LOGICAL_OPS,
    PARAMETER_TYPES,
    CollectedRef,
    Condition,
    Constant,
    ListRef,
    LoopCarryRef,
    LoopItemRef,
    OneOfRef,
    PipelineParameterRef,
    PipelineSpec,
    RunStatusRef,
    TaskOutputRef,
    ValueRef,
)
from conveyor.types.artifacts import is_compatible, registered_types

GROUP_KINDS: tuple[str, ...] = ("condition", "parallel_for", "loop", "exit_handler")
_GROUP_FIELDS: dict[str, tuple[str, ...]] = {
    "condition": ("condition",),
    "parallel_for": ("items", "parallelism"),
    "loop": ("max_iterations", "until", "carry"),
    "exit_handler": ("handler_task",),
}

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
def _path_names(spec: PipelineSpec) -> Iterator[str]:
    """Names that become path segments keep to the one name rule (``conveyor._internal.names``):
    artifacts live at ``<root>/<pipeline>/<run>/<task>.<execution>/<output>``."""
    found = [("pipeline name", spec.name)]
    for cname, comp in spec.components.items():
        found.append(("component name", cname))
        found += [(f"output of component {cname!r}", key) for key in comp.output_artifacts]
    found += [("task name", name) for name in spec.tasks]
    for kind, value in found:
        problem = name_problem(kind, value)
        if problem is not None:
            yield problem


@check
def _known_components(spec: PipelineSpec) -> Iterator[str]:
    for key, comp in spec.components.items():
        if comp.name != key:
            yield f"component key {key!r} holds a component named {comp.name!r}"
    for name, task in spec.tasks.items():
        if task.name != name:
            yield f"task key {name!r} holds a task named {task.name!r}"
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
    elif isinstance(value, ListRef | OneOfRef):
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
                if isinstance(ref, ListRef | CollectedRef) and not aspec.is_list:
                    yield f"task {name!r} input {key!r} takes one artifact, not a list"
                if aspec.is_list and not isinstance(ref, ListRef | CollectedRef):
                    yield f"task {name!r} input {key!r} takes a list of artifacts (fan-in)"
                items = ref.items if isinstance(ref, ListRef) else (ref,)
                for item in items:
                    yield from _check_artifact_source(spec, name, key, aspec.type, item)
            elif key in comp.input_parameters:
                pspec = comp.input_parameters[key]
                yield from _check_parameter_source(spec, name, key, pspec.type, ref)
                if isinstance(ref, Constant) and not _constant_matches(
                    ref.value, pspec.type, pspec.nullable
                ):
                    yield f"task {name!r} parameter {key!r} expects {pspec.type}, got {ref.value!r}"
                elif (
                    isinstance(ref, Constant)
                    and pspec.enum is not None
                    and ref.value is not None
                    and ref.value not in pspec.enum
                ):
                    yield (
                        f"task {name!r} parameter {key!r} must be one of "
                        f"{list(pspec.enum)!r}, got {ref.value!r}"
                    )


_JSON_CLASSES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "array": list,
    "object": dict,
}


def _constant_matches(value: object, expected: str, nullable: bool) -> bool:
    if value is None:
        return nullable or expected == "any"
    if expected not in _JSON_CLASSES:
        return True
    if isinstance(value, bool) and expected != "boolean":
        return False
    return isinstance(value, _JSON_CLASSES[expected])


def _check_artifact_source(
    spec: PipelineSpec, task: str, key: str, expected: str, ref: ValueRef
) -> Iterator[str]:
    if isinstance(ref, OneOfRef):
        for item in ref.items:
            yield from _check_artifact_source(spec, task, key, expected, item)
        return
    if isinstance(ref, LoopCarryRef):
        group = spec.groups.get(ref.group)
        carry = group.carry.get(ref.name) if group is not None else None
        if carry is not None:
            for end in (carry.initial, carry.next):
                if end is not None:
                    yield from _check_artifact_source(spec, task, key, expected, end)
        return
    if not isinstance(ref, TaskOutputRef | CollectedRef):
        yield f"task {task!r} artifact input {key!r} must come from a task output, not {ref!r}"
        return
    found = _output_type(spec, ref)
    # An identity this process has no class for (a user type whose module is not imported)
    # cannot be judged here; the DSL checked it against the real classes when it was built.
    known = registered_types()
    judged = found is not None and found[1] in known and expected in known
    if found and found[0] == "artifact" and judged and not is_compatible(found[1], expected):
        yield (
            f"task {task!r} input {key!r} expects {expected}, got {found[1]} from "
            f"task {ref.task!r} output {ref.output!r}"
        )
    if found and found[0] == "parameter":
        yield f"task {task!r} artifact input {key!r} is bound to a parameter output"


def _check_parameter_source(
    spec: PipelineSpec, task: str, key: str, expected: str, ref: ValueRef
) -> Iterator[str]:
    if isinstance(ref, ListRef):
        if expected not in ("array", "any"):
            yield f"task {task!r} parameter {key!r} expects {expected}, got a list"
        for item in ref.items:
            yield from _check_parameter_source(spec, task, key, "any", item)
        return
    if isinstance(ref, CollectedRef) and expected not in ("array", "any"):
        yield f"task {task!r} parameter {key!r} expects {expected}, got a collected list"
    elif isinstance(ref, TaskOutputRef):
        found = _output_type(spec, ref)
        if found is None:
            return
        if found[0] == "artifact":
            yield (
                f"task {task!r} parameter {key!r} is bound to artifact {ref.output!r} of "
                f"task {ref.task!r}"
            )
        elif not param_type_compatible(found[1], expected):
            yield (
                f"task {task!r} parameter {key!r} expects {expected}, got {found[1]} from "
                f"task {ref.task!r} output {ref.output!r}"
            )
    elif isinstance(ref, PipelineParameterRef) and ref.name in spec.parameters:
        produced = spec.parameters[ref.name].type
        if not param_type_compatible(produced, expected):
            yield (
                f"task {task!r} parameter {key!r} expects {expected}, got pipeline parameter "
                f"{ref.name!r} of type {produced}"
            )


def _check_ref(spec: PipelineSpec, task: str, key: str, ref: ValueRef) -> Iterator[str]:
    where = f"task {task!r} input {key!r}"
    yield from _check_value(spec, where, ref)
    if (
        isinstance(ref, TaskOutputRef | CollectedRef)
        and ref.task in spec.tasks
        and _output_type(spec, ref) is not None
        and ref.task not in spec.tasks[task].depends_on
    ):
        yield f"task {task!r} uses {ref.task!r} but does not list it in depends_on"


def _check_value(spec: PipelineSpec, where: str, ref: ValueRef) -> Iterator[str]:
    """Problems of one reference used at ``where`` (a task input, or a group's items/condition)."""
    if isinstance(ref, PipelineParameterRef) and ref.name not in spec.parameters:
        yield f"{where} uses unknown pipeline parameter {ref.name!r}"
    elif isinstance(ref, TaskOutputRef | CollectedRef):
        if ref.task not in spec.tasks:
            yield f"{where} uses output of unknown task {ref.task!r}"
        elif _output_type(spec, ref) is None:
            yield f"{where} uses unknown output {ref.output!r} of {ref.task!r}"
    if isinstance(ref, LoopItemRef):
        group = spec.groups.get(ref.group)
        if group is None:
            yield f"{where} uses unknown parallel_for group {ref.group!r}"
        elif group.kind != "parallel_for":
            yield f"{where} uses group {ref.group!r}, a {group.kind} group, not a parallel_for"
    elif isinstance(ref, CollectedRef):
        group = spec.groups.get(ref.group)
        if group is None:
            yield f"{where} collects over unknown group {ref.group!r}"
        elif not group.iterates:
            yield f"{where} collects over {group.kind} group {ref.group!r}, which does not iterate"
    elif isinstance(ref, LoopCarryRef):
        group = spec.groups.get(ref.group)
        if group is None or group.kind != "loop":
            yield f"{where} uses carried value {ref.name!r} of {ref.group!r}, which is not a loop"
        elif ref.name not in group.carry:
            yield f"{where} uses unknown carried value {ref.name!r} of loop {ref.group!r}"


@check
def _dependencies(spec: PipelineSpec) -> Iterator[str]:
    broken = False
    for name, task in spec.tasks.items():
        for dep in task.depends_on:
            if dep not in spec.tasks:
                broken = True
                yield f"task {name!r} depends on unknown task {dep!r}"
            elif dep == name:
                broken = True
                yield f"task {name!r} depends on itself"
    if broken:  # the order is undefined; a cycle report would only repeat the problems above
        return
    try:
        spec.topological_order()
    except ValueError as exc:
        yield str(exc)


@check
def _groups(spec: PipelineSpec) -> Iterator[str]:
    for name, group in spec.groups.items():
        if group.name != name:
            yield f"group key {name!r} holds a group named {group.name!r}"
        if group.kind not in GROUP_KINDS:
            yield f"group {name!r} has unknown kind {group.kind!r}; kinds are {list(GROUP_KINDS)!r}"
        if group.parent is not None and group.parent not in spec.groups:
            yield f"group {name!r} has unknown parent {group.parent!r}"
        if group.kind in _GROUP_FIELDS:
            for field in sorted({f for fs in _GROUP_FIELDS.values() for f in fs}):
                unused = field not in _GROUP_FIELDS[group.kind]
                if unused and getattr(group, field) not in (None, {}):
                    yield f"{group.kind} group {name!r} sets {field!r}, which it does not use"
        if group.items is not None:
            for ref in _refs(group.items):
                yield from _check_value(spec, f"group {name!r} items", ref)
        for label, cond in (("condition", group.condition), ("until", group.until)):
            if cond is not None:
                yield from _check_condition(spec, f"group {name!r} {label}", cond)
        for cname, carry in group.carry.items():
            if carry.initial is not None:
                for ref in _refs(carry.initial):
                    yield from _check_value(spec, f"loop {name!r} carry {cname!r} initial", ref)
            for ref in _refs(carry.next):
                yield from _check_value(spec, f"loop {name!r} carry {cname!r} next", ref)
        if group.kind == "condition" and group.condition is None:
            yield f"condition group {name!r} has no condition"
        if group.kind == "parallel_for":
            if group.items is None:
                yield f"parallel_for group {name!r} has no items"
            elif isinstance(group.items, Constant) and not isinstance(group.items.value, list):
                yield f"parallel_for group {name!r} items must be a list, got {group.items.value!r}"
            if group.parallelism is not None and group.parallelism < 1:
                yield f"parallel_for group {name!r} has parallelism {group.parallelism} (< 1)"
        if group.kind == "loop" and (group.max_iterations is None or group.max_iterations < 1):
            yield f"loop group {name!r} must be bounded: set max_iterations >= 1"
        if group.kind == "exit_handler" and group.handler_task not in spec.tasks:
            yield f"exit_handler group {name!r} names unknown handler task {group.handler_task!r}"
        elif group.kind == "exit_handler" and group.handler_task is not None:
            handler = group.handler_task
            if name in spec.group_chain(spec.tasks[handler].group):
                yield f"exit_handler group {name!r}: its handler task {handler!r} is inside it"
            inside = [d for d in spec.tasks[handler].depends_on if name in _chain_of(spec, d)]
            if inside:
                yield (
                    f"exit_handler group {name!r}: its handler {handler!r} depends on tasks "
                    f"inside the group {sorted(inside)!r}; it receives their status instead"
                )
    yield from _group_cycles(spec)
    for name, task in spec.tasks.items():
        if task.group is not None and task.group not in spec.groups:
            yield f"task {name!r} is in unknown group {task.group!r}"


def _chain_of(spec: PipelineSpec, task: str) -> list[str]:
    return spec.groups_of(task) if task in spec.tasks else []


def _scope_problems(
    spec: PipelineSpec, where: str, scope: list[str], ref: ValueRef, *, condition: bool = False
) -> Iterator[str]:
    """Problems of using ``ref`` from inside the groups ``scope`` (outermost first)."""
    if isinstance(ref, TaskOutputRef | CollectedRef) and ref.task in spec.tasks:
        outside = [
            g for g in spec.iterating_groups_of(ref.task) if g not in scope and g in spec.groups
        ]
        if isinstance(ref, TaskOutputRef):
            fanned = [g for g in outside if spec.groups[g].kind == "parallel_for"]
            if fanned:
                yield (
                    f"{where} uses output {ref.output!r} of {ref.task!r}, which runs once per "
                    f"item of parallel_for {fanned[-1]!r}; collect it with "
                    "conveyor.Collected(...)"
                )
        elif ref.group in spec.groups:
            if ref.group in scope:
                yield f"{where} collects over group {ref.group!r} from inside it"
            elif ref.group not in spec.groups_of(ref.task):
                yield f"{where} collects {ref.task!r}, which is not inside group {ref.group!r}"
            elif outside != [ref.group]:
                yield (
                    f"{where} collects {ref.task!r} over {ref.group!r}, but it also runs inside "
                    f"{[g for g in outside if g != ref.group]!r}; collect one level at a time"
                )
        component = spec.components.get(spec.tasks[ref.task].component)
        if condition and component is not None and ref.output in component.output_artifacts:
            yield f"{where} compares artifact {ref.output!r} of {ref.task!r}; compare parameters"
    elif isinstance(ref, LoopItemRef | LoopCarryRef) and ref.group not in scope:
        what = "the item" if isinstance(ref, LoopItemRef) else f"carried value {ref.name!r}"
        yield f"{where} uses {what} of group {ref.group!r} outside it"


@check
def _scopes(spec: PipelineSpec) -> Iterator[str]:
    handlers = {g.handler_task for g in spec.groups.values() if g.kind == "exit_handler"}
    for name, task in spec.tasks.items():
        if task.group is not None and task.group not in spec.groups:
            continue
        scope = spec.groups_of(name)
        bindings = [*task.inputs.items(), *((f"option {k}", v) for k, v in task.dynamic.items())]
        for key, value in bindings:
            for ref in _refs(value):
                if isinstance(ref, RunStatusRef) and name not in handlers:
                    yield f"task {name!r} input {key!r} takes the run status but handles no exit"
                yield from _scope_problems(spec, f"task {name!r} input {key!r}", scope, ref)
        for key in task.dynamic:
            if key not in DYNAMIC_OPTIONS:
                yield f"task {name!r} binds unknown option {key!r}; options are {DYNAMIC_OPTIONS!r}"
    for gname, group in spec.groups.items():
        outer = spec.group_chain(group.parent)
        inner = spec.group_chain(gname)
        uses: list[tuple[str, list[str], ValueRef | Condition | None, bool]] = [
            ("condition", outer, group.condition, True),
            ("items", outer, group.items, False),
            ("until", inner, group.until, True),
        ]
        for cname, carry in group.carry.items():
            uses.append((f"carry {cname!r} initial", outer, carry.initial, False))
            uses.append((f"carry {cname!r} next", inner, carry.next, False))
        for label, scope, used, is_condition in uses:
            if used is None:
                continue
            for ref in _refs(used):
                yield from _scope_problems(
                    spec, f"group {gname!r} {label}", scope, ref, condition=is_condition
                )


def _group_cycles(spec: PipelineSpec) -> Iterator[str]:
    reported: set[str] = set()
    for name in spec.groups:
        seen: list[str] = []
        current: str | None = name
        while current is not None and current in spec.groups and current not in seen:
            seen.append(current)
            current = spec.groups[current].parent
        if current is not None and current in seen:
            cycle = sorted(seen[seen.index(current) :])
            if not reported.intersection(cycle):
                reported.update(cycle)
                yield f"groups {cycle!r} are each other's parents (a cycle)"


def _check_condition(spec: PipelineSpec, where: str, cond: Condition) -> Iterator[str]:
    if cond.op in COMPARISON_OPS:
        if len(cond.args) != 2:
            yield f"{where}: {cond.op!r} compares 2 values, got {len(cond.args)}"
    elif cond.op == "not":
        if len(cond.args) != 1:
            yield f"{where}: 'not' takes 1 condition, got {len(cond.args)}"
    elif cond.op in LOGICAL_OPS:
        if len(cond.args) < 2:
            yield f"{where}: {cond.op!r} takes at least 2 conditions, got {len(cond.args)}"
    else:
        ops = [*COMPARISON_OPS, *LOGICAL_OPS]
        yield f"{where}: unknown operator {cond.op!r}; operators are {ops!r}"
        return
    for arg in cond.args:
        if cond.op in LOGICAL_OPS:
            if not isinstance(arg, Condition):
                yield f"{where}: {cond.op!r} combines conditions, got the value {arg!r}"
            else:
                yield from _check_condition(spec, where, arg)
        elif isinstance(arg, Condition):
            yield f"{where}: {cond.op!r} compares values, got a condition"
        else:
            for ref in _refs(arg):
                yield from _check_value(spec, where, ref)
