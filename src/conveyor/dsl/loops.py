"""Iterative loops: ``Loop`` runs its tasks again and again, bounded, passing carried values
(``loop.carry()``) from one iteration to the next until ``loop.stop_when(...)`` holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conveyor.dsl.annotations import coerce_value, json_literal_matches, json_type_of_values
from conveyor.dsl.builder import GroupFrame, get_builder, numbered
from conveyor.dsl.conditions import RuntimeValue, as_condition, caller_location, fail_here
from conveyor.dsl.control import check_condition
from conveyor.dsl.parallel import Collected, LoopItem, collect_group
from conveyor.dsl.tasks import (
    BindSite,
    OutputRef,
    PipelineParam,
    Placeholder,
    Task,
    bind_value,
    scoped,
)
from conveyor.errors import DefinitionError
from conveyor.ir.spec import (
    MISSING,
    ArtifactSpec,
    CollectedRef,
    Condition,
    Constant,
    GroupSpec,
    LoopCarry,
    LoopCarryRef,
    ParameterSpec,
    TaskOutputRef,
    ValueRef,
)
from conveyor.ir.validate import param_type_compatible
from conveyor.types.artifacts import is_compatible

__all__ = ["Carry", "Loop"]


class Loop(GroupFrame):
    """Run the tasks created inside the block again and again: at most ``max_iterations``
    times (mandatory: loops must be bounded), until the condition given to
    :meth:`stop_when` holds after an iteration.

    :meth:`carry` passes a value from one iteration to the next (warm start). A task outside
    the block that uses an output of a task inside gets the last iteration's value;
    ``Collected(...)`` gets every iteration's. Instances are named ``task[0]``, ``task[1]``, ...

    Example:
        >>> from conveyor import Loop, component, pipeline
        >>> @component
        ... def refine(previous: float = 0.0) -> float:
        ...     return previous + 0.1
        >>> @pipeline
        ... def converge():
        ...     with Loop(max_iterations=10) as loop:
        ...         score = loop.carry(initial=0.0)
        ...         step = refine(previous=score)
        ...         score.update(step.output)
        ...         loop.stop_when(step.output >= 0.5)
        >>> converge.spec.groups["loop-1"].max_iterations
        10
    """

    kind = "loop"
    label = "Loop"

    def __init__(self, max_iterations: int | None = None, name: str | None = None):
        super().__init__(name)
        bad = isinstance(max_iterations, bool) or not isinstance(max_iterations, int)
        if bad or max_iterations is None or max_iterations < 1:
            raise self.fail(
                "conveyor.Loop(max_iterations=...) must be a whole number >= 1, got "
                f"{max_iterations!r}: loops must be bounded. Pass max_iterations=N and stop "
                "earlier with loop.stop_when(...)"
            )
        self.max_iterations = max_iterations
        self.until: Condition | None = None
        self.carries: dict[str, Carry] = {}

    def __enter__(self) -> Loop:
        self.builder.open_group(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.builder.close_group(self)
        if exc[0] is not None:
            return
        if not self.builder.tasks_inside(self.name):
            raise self.fail("A conveyor.Loop block created no tasks; call components in it")
        for carry in self.carries.values():
            carry.finish()

    def _require_open(self, what: str) -> None:
        if self.state != "open":
            raise fail_here(
                f"Loop {self.name or 'loop'}.{what} is called inside its "
                "`with conveyor.Loop(...) as loop:` block"
            )

    def carry(self, initial: Any = None, name: str | None = None) -> Carry:
        """A value carried from one iteration to the next.

        Args:
            initial: the value for iteration 0: a JSON constant, a pipeline parameter, or an
                output of a task outside the loop. None: no value (the input's default
                applies, so the inputs it feeds must be optional).
            name: the carry's name in the IR (default ``carry-1``, ``carry-2``, ...).

        Pass the result to inputs of tasks inside the loop, and call its
        :meth:`Carry.update` once with the output that feeds the next iteration.
        """
        self._require_open("carry()")
        if name is None:
            name = numbered("carry", self.carries, len(self.carries) + 1)
        elif not isinstance(name, str) or not name or name in self.carries:
            raise fail_here(
                f"Loop {self.name!r}: carry name {name!r} is empty or already used; carry names "
                "are unique in a loop"
            )
        carried = Carry(self, name, initial)
        self.carries[name] = carried
        return carried

    def stop_when(self, condition: Any) -> None:
        """Stop after the iteration in which ``condition`` holds (outputs of tasks inside the
        loop are the current iteration's). Call it once, inside the block."""
        self._require_open("stop_when()")
        if self.until is not None:
            raise fail_here(
                f"Loop {self.name!r}: stop_when() is called once; combine conditions with | "
                "(either) or & (both)"
            )
        expr = as_condition(condition, "loop.stop_when(...)")

        def fail(message: str) -> DefinitionError:
            return fail_here(f"Loop {self.name!r}: stop_when(...): {message}")

        check_condition(self.builder, expr, self.name, fail)
        self.until = expr.condition

    def to_spec(self) -> GroupSpec:
        carry = {}
        for name, c in sorted(self.carries.items()):
            assert c.next is not None  # finish() checked it when the block closed
            carry[name] = LoopCarry(c.initial, c.next)
        return GroupSpec(
            self.name,
            "loop",
            parent=self.parent,
            max_iterations=self.max_iterations,
            until=self.until,
            carry=carry,
        )


@dataclass(frozen=True)
class _Source:
    """Where a carried value comes from, to check it against the inputs it feeds."""

    kind: str  # "artifact" | "parameter"
    type: str
    what: str
    is_list: bool = False
    value: Any = MISSING  # a constant's value

    def problem(self, spec: ParameterSpec | ArtifactSpec) -> str | None:
        """Why this value cannot feed an input declared as ``spec`` (None if it can)."""
        if isinstance(spec, ArtifactSpec):
            if self.kind != "artifact":
                return f"is a parameter ({self.what}), not an artifact"
            if self.is_list != spec.is_list:
                many = "a list of artifacts" if self.is_list else "one artifact"
                return f"is {many} ({self.what}), but the input takes the other"
            if not is_compatible(self.type, spec.type):
                return f"is {self.type} ({self.what}), not {spec.type}"
            return None
        if self.kind != "parameter":
            return f"is an artifact ({self.what}), not a parameter"
        if self.value is not MISSING:
            if not json_literal_matches(self.value, spec.type, spec.nullable):
                return f"is {self.value!r}, not of type {spec.type}"
            if spec.enum is not None and self.value is not None and self.value not in spec.enum:
                return f"is {self.value!r}, not one of {list(spec.enum)!r}"
            return None
        produced = "array" if self.is_list else self.type
        if not param_type_compatible(produced, spec.type):
            return f"is {produced} ({self.what}), not {spec.type}"
        return None


def _required(spec: ParameterSpec | ArtifactSpec) -> bool:
    return not spec.optional if isinstance(spec, ArtifactSpec) else not spec.has_default


class Carry(RuntimeValue, Placeholder):
    """A value carried from one iteration of a :class:`Loop` to the next (``loop.carry()``).

    In iteration 0 it is the ``initial`` value; in iteration ``i`` it is the value given to
    :meth:`update` as computed in iteration ``i - 1``. Pass it to inputs of tasks inside the
    loop, or compare it in a condition.

    Example:
        >>> from conveyor import Input, Loop, Model, Output, component, pipeline
        >>> @component
        ... def train(model: Output[Model], warm: Input[Model] | None = None) -> float:
        ...     return 0.9
        >>> @pipeline
        ... def warm_start():
        ...     with Loop(max_iterations=3) as loop:
        ...         previous = loop.carry(name="model")
        ...         t = train(warm=previous)
        ...         previous.update(t.outputs["model"])
        ...         loop.stop_when(t.output > 0.95)
        >>> warm_start.spec.groups["loop-1"].carry["model"].initial is None
        True
    """

    def __init__(self, loop: Loop, name: str, initial: Any):
        self.source_file, self.lineno = caller_location()
        self.loop = loop
        self.name = name
        self.initial: ValueRef | None = None
        self.initial_source: _Source | None = None
        if initial is not None:
            self.initial, self.initial_source = self._initial(initial)
        self.next: ValueRef | None = None
        self.next_source: _Source | None = None
        self.updated_at: tuple[str | None, int | None] | None = None
        self.bindings: list[tuple[str, ParameterSpec | ArtifactSpec, Any]] = []
        self.compared_at: list[tuple[str | None, int | None]] = []

    __hash__ = RuntimeValue.__hash__

    def describe(self) -> str:
        return f"carried value {self.name!r} of Loop {self.loop.name!r}"

    def _initial(self, value: Any) -> tuple[ValueRef, _Source]:
        builder, where = self.loop.builder, f"{self.describe()}: carry(initial=...)"
        if isinstance(value, Task):
            value = value.output
        if isinstance(value, OutputRef):
            if builder.tasks.get(value.task.name) is not value.task:
                raise fail_here(f"{where} uses {value.describe()}, of another pipeline")
            if self.loop.name in builder.chain(value.task.group):
                raise fail_here(
                    f"{where} is {value.describe()}, a task inside the loop; the initial value "
                    "feeds iteration 0, so it comes from outside. Pass it to update() instead"
                )
            ref = TaskOutputRef(value.task.name, value.name)
            problem = builder.scope_problem(ref, self.loop.parent)
            if problem:
                raise fail_here(f"{where} {problem}")
            return ref, _Source(value.kind, value.type, value.describe())
        if isinstance(value, RuntimeValue | Placeholder):
            site = BindSite(builder, "", "initial", self.loop.parent, fail_here)
            bound = bind_value(site, value, ParameterSpec(type="any", nullable=True))
            found = value.spec.type if isinstance(value, PipelineParam) else None
            if isinstance(value, LoopItem):
                found = json_type_of_values(value.values() or [])
            what = value.describe() if isinstance(value, RuntimeValue) else repr(value)
            return bound, _Source("parameter", found or "any", what)
        if not json_literal_matches(value, "any"):
            raise fail_here(
                f"{where} must be a JSON value, a pipeline parameter or a task output, "
                f"got {value!r}"
            )
        value = coerce_value(value, "array")
        return Constant(value), _Source("parameter", "any", f"{value!r}", value=value)

    def update(self, value: OutputRef | Task | Collected) -> None:
        """Set the value of the next iteration: an output of a task inside the loop (or
        ``Collected(...)`` of a task in a block nested in it). Call it once."""
        where, builder = f"{self.describe()}: update()", self.loop.builder
        if self.loop.state != "open":
            raise fail_here(f"{where} is called inside the loop's `with` block")
        if self.updated_at is not None:
            raise fail_here(
                f"{where} was already called at {self.updated_at[0]}:{self.updated_at[1]}; "
                "update() is called once per carried value"
            )
        if isinstance(value, Task):
            value = value.output
        output = value.output if isinstance(value, Collected) else value
        if not isinstance(output, OutputRef):
            raise fail_here(
                f"{where} takes a task output, e.g. carried.update(train.outputs['model']), "
                f"got {value!r}"
            )
        if builder.tasks.get(output.task.name) is not output.task:
            raise fail_here(f"{where} got {output.describe()}, of another pipeline")
        if self.loop.name not in builder.chain(output.task.group):
            raise fail_here(
                f"{where} takes an output of a task inside the loop (it feeds the next "
                f"iteration); {output.describe()} is outside it. Pass it as carry(initial=...)"
            )
        if isinstance(value, Collected):
            group = collect_group(builder, output.task, self.loop.name, fail_here)
            ref: ValueRef = CollectedRef(output.task.name, output.name, group)
            source = _Source(output.kind, output.type, f"Collected({output.describe()})", True)
        else:
            ref = TaskOutputRef(output.task.name, output.name)
            problem = builder.scope_problem(ref, self.loop.name)
            if problem:
                raise fail_here(f"{where} {problem}")
            source = _Source(output.kind, output.type, output.describe())
        initial = self.initial_source
        if initial is not None and initial.kind != source.kind:
            raise fail_here(
                f"{where} gives an {source.kind} ({source.what}), but the initial value is "
                f"a {initial.kind} ({initial.what}); a carried value is one or the other"
            )
        self.next, self.next_source, self.updated_at = ref, source, caller_location()

    def condition_operand(self) -> tuple[ValueRef, str | None]:
        if get_builder() is not self.loop.builder:
            raise fail_here(f"{self.describe()} belongs to another pipeline (or an earlier build)")
        self.compared_at.append(caller_location())
        source = self.next_source or self.initial_source
        if source is not None and source.kind == "artifact":
            raise fail_here(f"{self.describe()} is an artifact; a condition compares parameters")
        known = source is not None and source.value is MISSING and not source.is_list
        return LoopCarryRef(self.loop.name, self.name), source.type if known and source else None

    def bind(self, site: BindSite, spec: ParameterSpec | ArtifactSpec) -> ValueRef:
        if site.builder is not self.loop.builder:
            raise site.fail(f"{self.describe()} belongs to another pipeline (or an earlier build)")
        ref = scoped(site, LoopCarryRef(self.loop.name, self.name))
        if self.initial_source is None and _required(spec):
            fix = "Input[T] | None = None" if isinstance(spec, ArtifactSpec) else "a default"
            raise site.fail(
                f"input {site.key!r} is required, but {self.describe()} has no initial value, "
                f"so iteration 0 would have nothing to pass. Make the input optional ({fix}) or "
                "give the carry one: loop.carry(initial=...)"
            )
        self._check(site.key, spec, site.fail, self.initial_source, "initial")
        self.bindings.append((site.key, spec, site.fail))
        return ref

    def _check(self, key: str, spec: Any, fail: Any, source: _Source | None, which: str) -> None:
        problem = source.problem(spec) if source is not None else None
        if problem:
            raise fail(f"input {key!r} takes {self.describe()}, whose {which} value {problem}")

    def finish(self) -> None:
        """Checks run when the loop's block closes, once every use of the carry is known."""
        if self.next_source is None:
            raise DefinitionError(
                f"{self.describe()[0].upper()}{self.describe()[1:]} is never updated: call "
                ".update(task.outputs[...]) on it inside the loop, with the value for the next "
                "iteration",
                source_file=self.source_file,
                lineno=self.lineno,
            )
        for key, spec, fail in self.bindings:
            self._check(key, spec, fail, self.next_source, "next")
        if self.next_source.kind == "artifact" and self.compared_at:
            source_file, lineno = self.compared_at[0]
            raise DefinitionError(
                f"{self.describe()} is an artifact ({self.next_source.what}); a condition "
                "compares parameters",
                source_file=source_file,
                lineno=lineno,
            )

    def __repr__(self) -> str:
        return f"Carry({self.loop.name!r}, {self.name!r})"
