"""Control flow at run time: which task instances run, are skipped or are cancelled.

A :class:`Flow` turns a pipeline's IR (tasks and control-flow groups) into *instances*: a task
inside a ``parallel_for`` or ``loop`` runs once per item or iteration, as ``task[i]`` (nested:
``task[i][j]``, 0-based). It is a pure state machine over the results a runner feeds it, so
every runner (in-process, worker processes, a remote engine replaying metadata) makes the same
decisions:

- :meth:`Flow.advance` returns what can happen now: :class:`Launch` an instance (with its
  inputs lowered to plain references to other instances and its run-time options resolved),
  or :class:`NotRun` (skipped by a condition or an upstream skip, cancelled by an upstream
  failure, failed because a group's items or condition could not be evaluated);
- :meth:`Flow.finish` records how a launched instance ended;
- :meth:`Flow.pending` names what never became ready (a run that ends or is cancelled).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from conveyor.execution.conditions import ConditionError, describe, evaluate
from conveyor.execution.options import OptionError, resolve_options
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

__all__ = ["Flow", "Instance", "Launch", "NotRun", "instance_name"]

Scope = tuple[tuple[str, int], ...]
"""(group, index) for each iterating group around an instance, outermost first."""

_FAILED = (ExecutionState.FAILED, ExecutionState.CANCELED)


def instance_name(task: str, scope: Scope) -> str:
    """``task`` followed by ``[i]`` for each enclosing iteration: ``train[2]``."""
    return task + "".join(f"[{i}]" for _, i in scope)


@dataclass(frozen=True)
class Instance:
    """One run of a task: the task and the iteration of each group around it."""

    task: str
    scope: Scope = ()

    @property
    def name(self) -> str:
        """The instance's name in metadata and logs (``task`` when it is not in a loop)."""
        return instance_name(self.task, self.scope)

    @property
    def indices(self) -> dict[str, int]:
        """Iteration index by group name."""
        return dict(self.scope)


@dataclass(frozen=True)
class Launch:
    """Run ``instance`` now, as ``task_spec`` (inputs lowered, options resolved)."""

    instance: Instance
    task_spec: TaskSpec


@dataclass(frozen=True)
class NotRun:
    """Record ``name`` (an instance, or ``task[*]`` for iterations never expanded) as ``state``."""

    name: str
    task: str
    state: ExecutionState
    reason: str
    scope: Scope = ()


@dataclass(frozen=True)
class _R:
    """A reference's resolution: ``ok`` (with a lowered reference), ``wait``, ``skip`` or
    ``fail`` (with why)."""

    kind: str
    ref: Any = None
    reason: str = ""


_WAIT = _R("wait")
_VERDICT = {
    "skip": ExecutionState.SKIPPED,
    "fail": ExecutionState.CANCELED,  # an upstream task did not succeed
    "error": ExecutionState.FAILED,  # the value itself is wrong (not a list, a bad comparison)
}
_PRECEDENCE = ("error", "fail", "skip", "wait")
_ABSENT = object()  # a carried value with no initial value: the input keeps its default


@dataclass
class _GroupState:
    """What was decided for one instance of a group."""

    verdict: ExecutionState | None = None  # SKIPPED / CANCELED / FAILED: its tasks did not run
    reason: str = ""
    items: list[Any] = field(default_factory=list)
    iterations: int = 0
    finished: bool = False
    failed: bool = False


class Flow:
    """The run-time control flow of one run of ``spec`` with pipeline parameter ``values``."""

    def __init__(self, spec: PipelineSpec, values: Mapping[str, Any], *, run_id: str = "") -> None:
        self.spec = spec
        self.values = dict(values)
        self.run_id = run_id
        order = spec.topological_order()
        self._members: dict[str | None, list[str]] = {None: []}
        self._children: dict[str | None, list[str]] = {None: []}
        for g in spec.groups:
            self._members[g] = []
            self._children[g] = []
        for g in sorted(spec.groups):
            self._children[spec.groups[g].parent].append(g)
        for t in order:
            self._members[spec.tasks[t].group].append(t)
        self._handled = {
            g.handler_task: name
            for name, g in spec.groups.items()
            if g.kind == "exit_handler" and g.handler_task
        }
        self._referenced = {t: _referenced_tasks(spec.tasks[t]) for t in spec.tasks}
        self.states: dict[str, ExecutionState] = {}
        self.outputs: dict[str, TaskOutputs] = {}
        self.errors: dict[str, str] = {}
        self.running: dict[str, Instance] = {}
        self._groups: dict[tuple[str, Scope], _GroupState] = {}
        self._in_flight: dict[tuple[str, Scope], dict[int, int]] = {}
        self._waiting: dict[str, tuple[Instance, str]] = {}
        self._dirty = False
        self.cancelled = False
        self.failures: list[str] = []
        """Failures of groups themselves (a loop's stop condition that cannot be evaluated)."""

    # --- the runner's side ------------------------------------------------------------------

    def advance(self) -> list[Launch | NotRun]:
        """Everything that can be decided now; launched instances count as running."""
        out: list[Launch | NotRun] = []
        self._dirty = True
        while self._dirty:  # a group that changed (opened, finished) may unblock earlier tasks
            self._dirty = False
            self._waiting = {}
            before = len(out)
            self._visit(None, (), out)
            self._dirty = self._dirty or len(out) > before
        return out

    def finish(
        self,
        name: str,
        state: ExecutionState,
        outputs: TaskOutputs | None = None,
        error: str | None = None,
    ) -> None:
        """Record how a launched instance ended (or replay a result read from metadata)."""
        self.states[name] = state
        if outputs is not None:
            self.outputs[name] = outputs
        if error:
            self.errors[name] = error
        inst = self.running.pop(name, None)
        if inst is not None:
            for key, idx in self._pfor_keys(inst.scope):
                counts = self._in_flight[key]
                counts[idx] -= 1
                if counts[idx] <= 0:
                    del counts[idx]

    def pending(self, reason: str) -> list[NotRun]:
        """Instances that were waiting and tasks never reached, as CANCELED with ``reason``
        (call when nothing runs and :meth:`advance` has nothing left, or on cancel)."""
        out = [
            NotRun(inst.name, inst.task, ExecutionState.CANCELED, f"{reason} ({why})", inst.scope)
            for inst, why in self._waiting.values()
            if inst.name not in self.states and inst.name not in self.running
        ]
        reached = {_base(n) for n in (*self.states, *self.running)} | {o.task for o in out}
        for task in self.spec.tasks:
            if task not in reached:
                name = task + "[*]" * len(self.spec.iterating_groups_of(task))
                out.append(NotRun(name, task, ExecutionState.CANCELED, f"{reason} (not reached)"))
        for n in out:
            self.states[n.name] = n.state
        return out

    def cancel(self) -> None:
        """The run was cancelled: from now on only exit handlers start (with the state
        ``CANCELED``, once what they guard has ended); everything else not yet decided is
        ``CANCELED``. Record the instances that were running first, with :meth:`finish`."""
        self.cancelled = True

    @property
    def waiting(self) -> dict[str, str]:
        """Instances the last :meth:`advance` found not ready, with what they wait for."""
        return {name: why for name, (_, why) in self._waiting.items()}

    @property
    def busy(self) -> bool:
        """Whether launched instances have not finished."""
        return bool(self.running)

    def loop_summary(self) -> dict[str, dict[str, Any]]:
        """Each loop instance's iterations and why it stopped, by ``group`` or ``group[i]``."""
        out: dict[str, dict[str, Any]] = {}
        for (g, scope), st in sorted(self._groups.items()):
            if self.spec.groups[g].kind == "loop" and st.verdict is None:
                out[instance_name(g, scope)] = {
                    "iterations": st.iterations,
                    "finished": st.finished,
                    "failed": st.failed,
                    "reason": st.reason,
                }
        return out

    # --- walking the groups -----------------------------------------------------------------

    def _visit(self, group: str | None, scope: Scope, out: list[Launch | NotRun]) -> None:
        for task in self._members[group]:
            self._consider(Instance(task, scope), out)
        for child in self._children[group]:
            self._visit_group(child, scope, out)

    def _visit_group(self, g: str, scope: Scope, out: list[Launch | NotRun]) -> None:
        st = self._groups.get((g, scope))
        if st is None and self.cancelled:
            return  # no group opens after a cancel; its tasks are recorded by pending()
        if st is None:
            st = self._open(g, scope, out)
            if st is None:
                return
            self._dirty = True
        if st.verdict is not None:
            return
        kind = self.spec.groups[g].kind
        if kind in ("condition", "exit_handler"):
            self._visit(g, scope, out)
        elif kind == "parallel_for":
            for i in range(len(st.items)):
                self._visit(g, (*scope, (g, i)), out)
        else:
            i = 0
            while i < st.iterations:
                self._visit(g, (*scope, (g, i)), out)
                i += 1
                if i == st.iterations and not st.finished:
                    self._next_iteration(g, scope, st)

    def _open(self, g: str, scope: Scope, out: list[Launch | NotRun]) -> _GroupState | None:
        group = self.spec.groups[g]
        here = dict(scope)
        st = _GroupState()
        if group.kind == "condition":
            assert group.condition is not None
            r = self._condition(group.condition, here)
            if r.kind == "wait":
                return None
            if r.kind == "ok" and r.ref is False:
                r = _R("skip", reason=f"condition {describe(group.condition)} was false")
            if r.kind != "ok":
                self._close(g, scope, st, r, out)
        elif group.kind == "parallel_for":
            assert group.items is not None
            r = self._lower(group.items, here)
            if r.kind == "wait":
                return None
            if r.kind == "ok":
                items = self._value(r.ref)
                if isinstance(items, list):
                    st.items = items
                    if not items:
                        self._mark_subtree(g, scope, ExecutionState.SKIPPED, "no items", out)
                else:
                    why = f"items of parallel_for {g!r} must be a list, got {items!r}"
                    r = _R("error", reason=why)
            if r.kind != "ok":
                self._close(g, scope, st, r, out)
        elif group.kind == "loop":
            st.iterations = 1
        self._groups[(g, scope)] = st
        return st

    def _close(
        self, g: str, scope: Scope, st: _GroupState, r: _R, out: list[Launch | NotRun]
    ) -> None:
        """A group whose tasks will not run: record them all once."""
        st.verdict, st.reason = _VERDICT[r.kind], r.reason
        self._mark_subtree(g, scope, st.verdict, r.reason, out)

    def _mark_subtree(
        self, g: str, scope: Scope, state: ExecutionState, reason: str, out: list[Launch | NotRun]
    ) -> None:
        for task in self.spec.tasks:
            chain = self.spec.groups_of(task)
            if g not in chain:
                continue
            inner = [x for x in chain[chain.index(g) :] if self.spec.groups[x].iterates]
            name = instance_name(task, scope) + "[*]" * len(inner)
            if name not in self.states:
                self.states[name] = state
                if state == ExecutionState.FAILED:
                    self.errors[name] = reason
                out.append(NotRun(name, task, state, reason, scope))

    def _next_iteration(self, g: str, scope: Scope, st: _GroupState) -> None:
        """After the last iteration settles: stop (condition, bound, failure) or add one."""
        last = st.iterations - 1
        here = (*scope, (g, last))
        done, failed = self._settled(g, here)
        if not done or self.cancelled:
            return
        group = self.spec.groups[g]
        if failed:
            self._dirty = True
            st.finished, st.failed = True, True
            st.reason = f"iteration {last} did not succeed: {', '.join(failed)}"
            return
        if group.until is not None:
            r = self._condition(group.until, dict(here))
            if r.kind == "wait":
                return
            self._dirty = True
            if r.kind != "ok":
                st.finished, st.failed = True, True
                st.reason = f"stop condition of loop {g!r} cannot be evaluated: {r.reason}"
                self.failures.append(f"loop {instance_name(g, scope)}: {st.reason}")
                return
            if r.ref is True:
                st.finished = True
                st.reason = f"stop condition {describe(group.until)} held after iteration {last}"
                return
        self._dirty = True
        assert group.max_iterations is not None
        if st.iterations >= group.max_iterations:
            st.finished = True
            st.reason = f"reached max_iterations={group.max_iterations}"
            return
        st.iterations += 1

    def _settled(self, group: str | None, scope: Scope) -> tuple[bool, list[str]]:
        """Whether every instance under ``group`` at ``scope`` has ended, and which did not
        succeed (FAILED or CANCELED)."""
        failed: list[str] = []
        done = True
        for task in self._members[group]:
            name = instance_name(task, scope)
            state = self.states.get(name)
            if state is None:
                done = False
            elif state in _FAILED:
                failed.append(name)
        for child in self._children[group]:
            st = self._groups.get((child, scope))
            if st is None:
                done = done and self.cancelled  # never opened, and never will be
                continue
            if st.verdict is not None:
                if st.verdict in _FAILED:
                    failed.append(f"{instance_name(child, scope)} ({st.reason})")
                continue
            kind = self.spec.groups[child].kind
            if kind == "loop" and not st.finished and not self.cancelled:
                done = False
            if kind == "loop" and st.failed and "cannot be evaluated" in st.reason:
                failed.append(f"{instance_name(child, scope)} ({st.reason})")
            count = {"parallel_for": len(st.items), "loop": st.iterations}.get(kind)
            inner = [scope] if count is None else [(*scope, (child, i)) for i in range(count)]
            for sub in inner:
                d, f = self._settled(child, sub)
                done = done and d
                failed += f
        return done, failed

    # --- one instance -----------------------------------------------------------------------

    def _consider(self, inst: Instance, out: list[Launch | NotRun]) -> None:
        name = inst.name
        if name in self.states or name in self.running:
            return
        spec = self.spec.tasks[inst.task]
        here = inst.indices
        lowered: dict[str, Any] = {}
        verdicts: list[tuple[str, _R]] = []
        handler_of = self._handled.get(inst.task)
        status: dict[str, Any] | None = None
        if self.cancelled and handler_of is None:
            self.states[name] = ExecutionState.CANCELED
            state = ExecutionState.CANCELED
            out.append(NotRun(name, inst.task, state, "run cancelled", inst.scope))
            return
        if handler_of is not None:
            done, failed = self._settled(handler_of, inst.scope)
            if not done:
                self._waiting[name] = (inst, f"tasks of exit handler {handler_of!r} still run")
                return
            status = self._run_status(failed)
        for key, ref in spec.inputs.items():
            r = self._lower(ref, here, status)
            verdicts.append((key, r))
            lowered[key] = r.ref
        for dep in spec.depends_on:
            if dep not in self._referenced[inst.task]:
                verdicts.append((f"after {dep}", self._after(dep, here)))
        dynamic: dict[str, Any] = {}
        for key, ref in spec.dynamic.items():
            r = self._lower(ref, here, status)
            verdicts.append((f"option {key}", r))
            if r.kind == "ok":
                dynamic[key] = self._value(r.ref)
        for kind in _PRECEDENCE[:3]:
            bad = [r for _, r in verdicts if r.kind == kind]
            if bad:
                state = _VERDICT[kind]
                if state == ExecutionState.FAILED:
                    self.errors[name] = bad[0].reason
                self.states[name] = state
                out.append(NotRun(name, inst.task, state, bad[0].reason, inst.scope))
                return
        waiting = [k for k, r in verdicts if r.kind == "wait"]
        if waiting:
            self._waiting[name] = (inst, f"waiting for {', '.join(waiting)}")
            return
        if not self._may_start(inst):
            self._waiting[name] = (inst, "parallelism limit")
            return
        try:
            task_spec = resolve_options(spec, dynamic)
        except OptionError as exc:
            self.states[name] = ExecutionState.FAILED
            self.errors[name] = str(exc)
            out.append(NotRun(name, inst.task, ExecutionState.FAILED, str(exc), inst.scope))
            return
        inputs = {k: v for k, v in lowered.items() if v is not _ABSENT}
        task_spec = dataclasses.replace(
            task_spec, name=name, inputs=inputs, depends_on=(), group=None, dynamic={}
        )
        self.running[name] = inst
        for gkey, idx in self._pfor_keys(inst.scope):
            counts = self._in_flight.setdefault(gkey, {})
            counts[idx] = counts.get(idx, 0) + 1
        out.append(Launch(inst, task_spec))

    def _pfor_keys(self, scope: Scope) -> Iterator[tuple[tuple[str, Scope], int]]:
        for pos, (g, idx) in enumerate(scope):
            if self.spec.groups[g].kind == "parallel_for":
                yield (g, scope[:pos]), idx

    def _may_start(self, inst: Instance) -> bool:
        for (g, outer), idx in self._pfor_keys(inst.scope):
            limit = self.spec.groups[g].parallelism
            counts = self._in_flight.get((g, outer), {})
            if limit is not None and idx not in counts and len(counts) >= limit:
                return False
        return True

    def _run_status(self, failed: list[str]) -> dict[str, Any]:
        errors = [self.errors[n] for n in failed if n in self.errors]
        return {
            "state": "CANCELED" if self.cancelled else "FAILED" if failed else "COMPLETE",
            "pipeline": self.spec.name,
            "run_id": self.run_id,
            "failed_tasks": failed,
            "error": errors[0] if errors else None,
        }

    # --- references -------------------------------------------------------------------------

    def _locate(self, task: str, here: Mapping[str, int]) -> tuple[str | None, _R | None]:
        """The instance of ``task`` seen from a scope, or why there is none (yet)."""
        scope: list[tuple[str, int]] = []
        for g in self.spec.groups_of(task):
            st = self._groups.get((g, tuple(scope)))
            if st is None:
                return None, _WAIT
            if st.verdict is not None:
                if st.verdict == ExecutionState.SKIPPED:
                    why = f"upstream task {task!r} was skipped ({st.reason})"
                    return None, _R("skip", reason=why)
                why = f"not run: upstream task {task!r} did not run ({st.reason})"
                return None, _R("fail", reason=why)
            group = self.spec.groups[g]
            if not group.iterates:
                continue
            if g in here:
                scope.append((g, here[g]))
                continue
            # a loop seen from outside (validated): its last iteration, once it has finished
            if not st.finished:
                return None, _WAIT
            if st.failed:
                return None, _R("fail", reason=f"loop {g!r} did not finish: {st.reason}")
            scope.append((g, st.iterations - 1))
        return instance_name(task, tuple(scope)), None

    def _instance_result(self, name: str) -> _R:
        state = self.states.get(name)
        if state is None:
            return _WAIT
        if state.is_success:
            return _R("ok")
        if state == ExecutionState.SKIPPED:
            return _R("skip", reason=f"upstream task {name!r} was skipped")  # its reason is on it
        return _R("fail", reason=f"not run: upstream task {name!r} did not succeed")

    def _output(self, task: str, output: str, here: Mapping[str, int]) -> _R:
        name, why = self._locate(task, here)
        if name is None:
            assert why is not None
            return why
        r = self._instance_result(name)
        return _R("ok", TaskOutputRef(name, output)) if r.kind == "ok" else r

    def _collected(self, ref: CollectedRef, here: Mapping[str, int]) -> _R:
        outer = {g: i for g, i in here.items() if g in self.spec.group_chain(ref.group)}
        chain = self.spec.group_chain(ref.group)
        prefix: Scope = tuple((g, outer[g]) for g in chain[:-1] if self.spec.groups[g].iterates)
        # the group's own gate (its ancestors and itself) decides whether it ran at all
        _, why = self._locate_group(ref.group, prefix)
        if why is not None:
            return why
        st = self._groups[(ref.group, prefix)]
        kind = self.spec.groups[ref.group].kind
        if kind == "loop" and not st.finished:
            return _WAIT
        if st.failed:
            return _R("fail", reason=f"loop {ref.group!r} did not finish: {st.reason}")
        count = len(st.items) if kind == "parallel_for" else st.iterations
        items: list[ValueRef] = []
        for i in range(count):
            r = self._output(ref.task, ref.output, {**dict(prefix), ref.group: i})
            if r.kind == "skip":
                continue
            if r.kind != "ok":
                return r
            items.append(r.ref)
        return _R("ok", ListRef(tuple(items)))

    def _locate_group(self, g: str, prefix: Scope) -> tuple[str | None, _R | None]:
        scope: list[tuple[str, int]] = []
        for x in self.spec.group_chain(g):
            st = self._groups.get((x, tuple(scope)))
            if st is None:
                return None, _WAIT
            if st.verdict is not None:
                kind = "skip" if st.verdict == ExecutionState.SKIPPED else "fail"
                return None, _R(kind, reason=f"group {x!r} did not run: {st.reason}")
            if x != g and self.spec.groups[x].iterates:
                scope.append((x, dict(prefix)[x]))
        return g, None

    def _after(self, dep: str, here: Mapping[str, int]) -> _R:
        """A data-less dependency: every instance of ``dep`` visible from ``here`` has ended
        (``ok`` when at least one ran and none failed; ``skip`` when all were skipped)."""
        outside = [g for g in self.spec.iterating_groups_of(dep) if g not in here]
        if not outside:
            r = self._output(dep, "", here)
            return r if r.kind != "ok" else _R("ok")
        g = outside[0]
        chain = self.spec.group_chain(g)
        prefix = tuple((x, here[x]) for x in chain[:-1] if self.spec.groups[x].iterates)
        _, why = self._locate_group(g, prefix)
        if why is not None:
            return why
        st = self._groups[(g, prefix)]
        if self.spec.groups[g].kind == "loop" and not st.finished:
            return _WAIT
        count = len(st.items) if self.spec.groups[g].kind == "parallel_for" else st.iterations
        parts = [self._after(dep, {**here, g: i}) for i in range(count)]
        for kind in ("error", "fail", "wait"):
            for p in parts:
                if p.kind == kind:
                    return p
        if parts and all(p.kind == "skip" for p in parts):
            return parts[0]
        return _R("ok")

    def _lower(self, ref: ValueRef, here: Mapping[str, int], status: Any = None) -> _R:
        """Resolve a reference into one a plain task input can hold (or why not yet)."""
        if isinstance(ref, Constant | PipelineParameterRef):
            return _R("ok", ref)
        if isinstance(ref, TaskOutputRef):
            return self._output(ref.task, ref.output, here)
        if isinstance(ref, CollectedRef):
            return self._collected(ref, here)
        if isinstance(ref, ListRef):
            parts = [self._lower(i, here, status) for i in ref.items]
            for kind in _PRECEDENCE:
                for p in parts:
                    if p.kind == kind:
                        return p
            return _R("ok", ListRef(tuple(p.ref for p in parts)))
        if isinstance(ref, OneOfRef):
            reasons = []
            for item in ref.items:
                r = self._lower(item, here, status)
                if r.kind != "skip":
                    return r
                reasons.append(r.reason)
            return _R("skip", reason="; ".join(reasons) or "every branch was skipped")
        if isinstance(ref, LoopItemRef):
            return self._item(ref, here)
        if isinstance(ref, LoopCarryRef):
            carry = self.spec.groups[ref.group].carry[ref.name]
            i = here[ref.group]
            if i == 0:
                if carry.initial is None:
                    return _R("ok", _ABSENT)
                return self._lower(carry.initial, here, status)
            return self._lower(carry.next, {**here, ref.group: i - 1}, status)
        if isinstance(ref, RunStatusRef):
            if status is None:
                return _R("fail", reason="the run status is only given to exit handlers")
            return _R("ok", Constant(status))
        raise TypeError(f"unknown reference {ref!r}")  # pragma: no cover - validated IR

    def _item(self, ref: LoopItemRef, here: Mapping[str, int]) -> _R:
        chain = self.spec.group_chain(ref.group)
        prefix = tuple((g, here[g]) for g in chain[:-1] if self.spec.groups[g].iterates)
        item = self._groups[(ref.group, prefix)].items[here[ref.group]]
        if ref.key is None:
            return _R("ok", Constant(item))
        if not isinstance(item, Mapping) or ref.key not in item:
            keys = sorted(item) if isinstance(item, Mapping) else type(item).__name__
            return _R(
                "error",
                reason=f"item {here[ref.group]} of parallel_for {ref.group!r} has no key "
                f"{ref.key!r} (it has {keys})",
            )
        return _R("ok", Constant(item[ref.key]))

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

    def _condition(self, cond: Condition, here: Mapping[str, int]) -> _R:
        """Evaluate a condition: ``ok`` with True/False, or wait/skip/fail."""
        lowered: dict[int, _R] = {}

        def collect(c: Condition) -> Iterator[_R]:
            for arg in c.args:
                if isinstance(arg, Condition):
                    yield from collect(arg)
                else:
                    r = self._lower(arg, here)
                    lowered[id(arg)] = r
                    yield r

        parts = list(collect(cond))
        for kind in _PRECEDENCE:
            for p in parts:
                if p.kind == kind:
                    return p
        try:
            result = evaluate(cond, lambda arg: self._value(lowered[id(arg)].ref))
        except ConditionError as exc:
            return _R("error", reason=f"cannot evaluate {describe(cond)}: {exc}")
        return _R("ok", result)


def _base(name: str) -> str:
    return name.split("[", 1)[0]


def _referenced_tasks(task: TaskSpec) -> set[str]:
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
