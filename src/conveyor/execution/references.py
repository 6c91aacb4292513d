"""Resolving a task's references inside control flow (the half of :class:`Flow` that reads).

Seen from an instance (a scope: the iteration of each group around it), every reference a
task takes is *lowered* to one a plain task input can hold: ``train`` outside its loop is its
last iteration's instance, ``collected`` a list of instances' outputs, a loop item or the run
status a constant, a carried value the previous iteration's output. Or it is not available
yet (``wait``), will never be (``skip``: skipped upstream; ``fail``: failed upstream), or is
wrong (``error``: items that are not a list, a comparison that cannot be made).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from conveyor.execution.conditions import ConditionError, describe, evaluate
from conveyor.execution.results import TaskOutputs
from conveyor.ir.spec import (
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
    TaskSpec,
    ValueRef,
)
from conveyor.metadata.entities import ExecutionState

__all__ = [
    "ABSENT",
    "PRECEDENCE",
    "VERDICT",
    "WAIT",
    "GroupState",
    "References",
    "Resolution",
    "Scope",
    "instance_name",
    "referenced_tasks",
    "worst",
]

Scope = tuple[tuple[str, int], ...]
"""(group, index) for each iterating group around an instance, outermost first."""


def instance_name(task: str, scope: Scope) -> str:
    """``task`` followed by ``[i]`` for each enclosing iteration: ``train[2]``."""
    return task + "".join(f"[{i}]" for _, i in scope)


@dataclass(frozen=True)
class Resolution:
    """A reference's resolution: ``ok`` (with a lowered reference), ``wait``, ``skip`` or
    ``fail`` (with why)."""

    kind: str
    ref: Any = None
    reason: str = ""


WAIT = Resolution("wait")
VERDICT = {
    "skip": ExecutionState.SKIPPED,
    "fail": ExecutionState.CANCELED,  # an upstream task did not succeed
    "error": ExecutionState.FAILED,  # the value itself is wrong (not a list, a bad comparison)
}
PRECEDENCE = ("error", "fail", "skip", "wait")
ABSENT = object()  # a carried value with no initial value: the input keeps its default


def worst(parts: Iterable[Resolution], kinds: Sequence[str] = PRECEDENCE) -> Resolution | None:
    """The first part of the most serious kind among ``kinds`` (errors first), or None."""
    found = {p.kind: p for p in reversed(list(parts))}
    return next((found[k] for k in kinds if k in found), None)


@dataclass
class GroupState:
    """What was decided for one instance of a group."""

    verdict: ExecutionState | None = None  # SKIPPED / CANCELED / FAILED: its tasks did not run
    reason: str = ""
    items: list[Any] = field(default_factory=list)
    iterations: int = 0
    finished: bool = False
    failed: bool = False
    stop_failed: bool = False  # loop: its stop condition could not be evaluated
    admitted: int = 0  # parallel_for: items 0..admitted-1 have started (the rest wait)
    done: set[int] = field(default_factory=set)  # parallel_for: items whose instances ended
    first_open: int = 0  # parallel_for: every item before this one has ended
    item_failures: list[str] = field(default_factory=list)  # what failed in the done items


class References:
    """Reference resolution over the state a :class:`~conveyor.execution.flow.Flow` keeps."""

    spec: PipelineSpec
    values: dict[str, Any]
    states: dict[str, ExecutionState]
    outputs: dict[str, TaskOutputs]
    _groups: dict[tuple[str, Scope], GroupState]

    def _locate(self, task: str, here: Mapping[str, int]) -> tuple[str | None, Resolution | None]:
        """The instance of ``task`` seen from a scope, or why there is none (yet)."""
        scope: list[tuple[str, int]] = []
        for g in self.spec.groups_of(task):
            st = self._groups.get((g, tuple(scope)))
            if st is None:
                return None, WAIT
            if st.verdict is not None:
                if st.verdict == ExecutionState.SKIPPED:
                    why = f"upstream task {task!r} was skipped ({st.reason})"
                    return None, Resolution("skip", reason=why)
                why = f"not run: upstream task {task!r} did not run ({st.reason})"
                return None, Resolution("fail", reason=why)
            group = self.spec.groups[g]
            if not group.iterates:
                continue
            if g in here:
                scope.append((g, here[g]))
                continue
            # a loop seen from outside (validated): its last iteration, once it has finished
            if not st.finished:
                return None, WAIT
            if st.failed:
                return None, Resolution("fail", reason=f"loop {g!r} did not finish: {st.reason}")
            scope.append((g, st.iterations - 1))
        return instance_name(task, tuple(scope)), None

    def _instance_result(self, name: str) -> Resolution:
        state = self.states.get(name)
        if state is None:
            return WAIT
        if state.is_success:
            return Resolution("ok")
        if state == ExecutionState.SKIPPED:  # the skipped task's own record says why
            return Resolution("skip", reason=f"upstream task {name!r} was skipped")
        return Resolution("fail", reason=f"not run: upstream task {name!r} did not succeed")

    def _output(self, task: str, output: str, here: Mapping[str, int]) -> Resolution:
        name, why = self._locate(task, here)
        if name is None:
            assert why is not None
            return why
        r = self._instance_result(name)
        return Resolution("ok", TaskOutputRef(name, output)) if r.kind == "ok" else r

    def _collected(self, ref: CollectedRef, here: Mapping[str, int]) -> Resolution:
        ended = self._ended(ref.group, here)
        if isinstance(ended, Resolution):
            return ended
        prefix, count = ended
        items: list[ValueRef] = []
        for i in range(count):
            r = self._output(ref.task, ref.output, {**dict(prefix), ref.group: i})
            if r.kind == "skip":
                continue
            if r.kind != "ok":
                return r
            items.append(r.ref)
        return Resolution("ok", ListRef(tuple(items)))

    def _prefix(self, group: str, here: Mapping[str, int]) -> Scope:
        """The iterations, seen from ``here``, of the iterating groups around ``group``."""
        chain = self.spec.group_chain(group)[:-1]
        return tuple((g, here[g]) for g in chain if self.spec.groups[g].iterates)

    def _ended(self, g: str, here: Mapping[str, int]) -> tuple[Scope, int] | Resolution:
        """An iterating group seen from outside it, once every item or iteration has ended:
        its prefix and its count of items or iterations; else why not (yet)."""
        prefix = self._prefix(g, here)
        why = self._gate(g, prefix)
        if why is not None:
            return why
        st = self._groups[(g, prefix)]
        if self.spec.groups[g].kind == "loop":
            if not st.finished:
                return WAIT
            if st.failed:
                return Resolution("fail", reason=f"loop {g!r} did not finish: {st.reason}")
            return prefix, st.iterations
        if len(st.done) < len(st.items):
            return WAIT  # every item must have ended (a count, not a walk over the items)
        return prefix, len(st.items)

    def _gate(self, g: str, prefix: Scope) -> Resolution | None:
        """Why group ``g`` (at the iterations ``prefix`` of the groups around it) has not
        opened: not yet (``wait``) or never (its condition was false, its items failed...)."""
        scope: list[tuple[str, int]] = []
        for x in self.spec.group_chain(g):
            st = self._groups.get((x, tuple(scope)))
            if st is None:
                return WAIT
            if st.verdict is not None:
                kind = "skip" if st.verdict == ExecutionState.SKIPPED else "fail"
                return Resolution(kind, reason=f"group {x!r} did not run: {st.reason}")
            if x != g and self.spec.groups[x].iterates:
                scope.append((x, dict(prefix)[x]))
        return None

    def _after(self, dep: str, here: Mapping[str, int]) -> Resolution:
        """A data-less dependency: every instance of ``dep`` visible from ``here`` has ended
        (``ok`` when at least one ran and none failed; ``skip`` when all were skipped)."""
        outside = [g for g in self.spec.iterating_groups_of(dep) if g not in here]
        if not outside:
            r = self._output(dep, "", here)
            return r if r.kind != "ok" else Resolution("ok")
        g = outside[0]
        ended = self._ended(g, here)
        if isinstance(ended, Resolution):
            return ended
        parts = [self._after(dep, {**here, g: i}) for i in range(ended[1])]
        bad = worst(parts, ("error", "fail", "wait"))
        if bad is not None:
            return bad
        if parts and all(p.kind == "skip" for p in parts):
            return parts[0]
        return Resolution("ok")

    def _lower(self, ref: ValueRef, here: Mapping[str, int], status: Any = None) -> Resolution:
        """Resolve a reference into one a plain task input can hold (or why not yet)."""
        if isinstance(ref, Constant | PipelineParameterRef):
            return Resolution("ok", ref)
        if isinstance(ref, TaskOutputRef):
            return self._output(ref.task, ref.output, here)
        if isinstance(ref, CollectedRef):
            return self._collected(ref, here)
        if isinstance(ref, ListRef):
            parts = [self._lower(i, here, status) for i in ref.items]
            return worst(parts) or Resolution("ok", ListRef(tuple(p.ref for p in parts)))
        if isinstance(ref, OneOfRef):
            reasons = []
            for item in ref.items:
                r = self._lower(item, here, status)
                if r.kind != "skip":
                    return r
                reasons.append(r.reason)
            return Resolution("skip", reason="; ".join(reasons) or "every branch was skipped")
        if isinstance(ref, LoopItemRef):
            return self._item(ref, here)
        if isinstance(ref, LoopCarryRef):
            carry = self.spec.groups[ref.group].carry[ref.name]
            i = here[ref.group]
            if i == 0:
                if carry.initial is None:
                    return Resolution("ok", ABSENT)
                return self._lower(carry.initial, here, status)
            return self._lower(carry.next, {**here, ref.group: i - 1}, status)
        if isinstance(ref, RunStatusRef):
            if status is None:
                return Resolution("fail", reason="the run status is only given to exit handlers")
            return Resolution("ok", Constant(status))
        raise TypeError(f"unknown reference {ref!r}")  # pragma: no cover - validated IR

    def _item(self, ref: LoopItemRef, here: Mapping[str, int]) -> Resolution:
        item = self._groups[(ref.group, self._prefix(ref.group, here))].items[here[ref.group]]
        if ref.key is None:
            return Resolution("ok", Constant(item))
        if not isinstance(item, Mapping) or ref.key not in item:
            keys = sorted(item) if isinstance(item, Mapping) else type(item).__name__
            return Resolution(
                "error",
                reason=f"item {here[ref.group]} of parallel_for {ref.group!r} has no key "
                f"{ref.key!r} (it has {keys})",
            )
        return Resolution("ok", Constant(item[ref.key]))

    def _value(self, ref: Any) -> Any:
        """The JSON value a lowered reference stands for."""
        if isinstance(ref, Constant):
            return ref.value
        if isinstance(ref, PipelineParameterRef):
            return self.values[ref.name]
        if isinstance(ref, TaskOutputRef):
            return self.outputs[ref.task].parameters.get(ref.output)
        if isinstance(ref, ListRef):
            return [self._value(i) for i in ref.items]
        return None

    def _condition(self, cond: Condition, here: Mapping[str, int]) -> Resolution:
        """Evaluate a condition: ``ok`` with True/False, or wait/skip/fail."""
        lowered: dict[int, Resolution] = {}

        def collect(c: Condition) -> Iterator[Resolution]:
            for arg in c.args:
                if isinstance(arg, Condition):
                    yield from collect(arg)
                else:
                    r = self._lower(arg, here)
                    lowered[id(arg)] = r
                    yield r

        bad = worst(collect(cond))
        if bad is not None:
            return bad
        try:
            result = evaluate(cond, lambda arg: self._value(lowered[id(arg)].ref))
        except ConditionError as exc:
            return Resolution("error", reason=f"cannot evaluate {describe(cond)}: {exc}")
        return Resolution("ok", result)


def referenced_tasks(task: TaskSpec) -> set[str]:
    found: set[str] = set()

    def walk(ref: ValueRef) -> None:
        if isinstance(ref, TaskOutputRef | CollectedRef):
            found.add(ref.task)
        elif isinstance(ref, ListRef | OneOfRef):
            for item in ref.items:
                walk(item)

    for ref in (*task.inputs.values(), *task.dynamic.values()):
        walk(ref)
    return found
