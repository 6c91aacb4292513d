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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conveyor.execution.conditions import describe
from conveyor.execution.options import OptionError, resolve_options
from conveyor.execution.references import (
    ABSENT,
    PRECEDENCE,
    VERDICT,
    GroupState,
    References,
    Resolution,
    Scope,
    instance_name,
    referenced_tasks,
    worst,
)
from conveyor.execution.results import TaskOutputs
from conveyor.ir.spec import PipelineSpec, TaskSpec
from conveyor.metadata.entities import ExecutionState

__all__ = ["Flow", "Instance", "Launch", "NotRun", "instance_name"]


_FAILED = (ExecutionState.FAILED, ExecutionState.CANCELED)


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


class Flow(References):
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
        self._referenced = {t: referenced_tasks(spec.tasks[t]) for t in spec.tasks}
        self.states: dict[str, ExecutionState] = {}
        self.outputs: dict[str, TaskOutputs] = {}
        self.errors: dict[str, str] = {}
        self.running: dict[str, Instance] = {}
        self._groups: dict[tuple[str, Scope], GroupState] = {}
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
        self.running.pop(name, None)

    def pending(self, reason: str) -> list[NotRun]:
        """Instances that were waiting and tasks never reached, as CANCELED with ``reason``
        (call when nothing runs and :meth:`advance` has nothing left, or on cancel)."""
        waiting = dict(self._waiting)
        for (g, scope), st in self._groups.items():  # parallel-for items not started yet
            if self.spec.groups[g].kind == "parallel_for" and st.verdict is None:
                for j in range(st.admitted, len(st.items)):
                    for task in self._members[g]:
                        inst = Instance(task, (*scope, (g, j)))
                        waiting.setdefault(inst.name, (inst, "not started: parallelism limit"))
        out = [
            NotRun(inst.name, inst.task, ExecutionState.CANCELED, f"{reason} ({why})", inst.scope)
            for inst, why in waiting.values()
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

    def opened(self, group: str, scope: Scope = ()) -> bool | None:
        """Whether a group (at the iterations ``scope`` around it) has opened: ``True`` (its
        condition held, its items or first iteration exist), ``False`` (its tasks will not
        run), ``None`` (not decided yet)."""
        st = self._groups.get((group, scope))
        if st is None:
            return None
        return st.verdict is None

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
            self._visit_items(g, scope, st, out)
        else:
            # earlier iterations have settled (the next one starts only then): walk the last
            while True:
                self._visit(g, (*scope, (g, st.iterations - 1)), out)
                before = st.iterations
                if not st.finished:
                    self._next_iteration(g, scope, st)
                if st.iterations == before:
                    break

    def _visit_items(
        self, g: str, scope: Scope, st: GroupState, out: list[Launch | NotRun]
    ) -> None:
        """Walk a parallel-for's items in order: those in flight, and new ones while fewer
        than ``parallelism`` are in flight (an item is in flight from its first step until all
        of its steps ended). Items that ended are not walked again, so a run over thousands of
        items stays linear."""
        limit = self.spec.groups[g].parallelism
        while st.first_open in st.done:  # items before it have all ended: not walked again
            st.first_open += 1
        for i in range(st.first_open, len(st.items)):
            if i in st.done:
                continue
            if i >= st.admitted:
                if self.cancelled or (limit is not None and st.admitted - len(st.done) >= limit):
                    break  # the items from here on wait (pending() names them)
                st.admitted = i + 1
            item = (*scope, (g, i))
            self._visit(g, item, out)
            self._item_done(g, scope, st, i)

    def _item_done(self, g: str, scope: Scope, st: GroupState, i: int) -> bool:
        """Whether item ``i`` has ended (recorded once, with what failed in it)."""
        if i in st.done:
            return True
        done, failed = self._settled(g, (*scope, (g, i)))
        if done:
            st.done.add(i)
            st.item_failures += failed
            self._dirty = True
        return done

    def _open(self, g: str, scope: Scope, out: list[Launch | NotRun]) -> GroupState | None:
        group = self.spec.groups[g]
        here = dict(scope)
        st = GroupState()
        if group.kind == "condition":
            assert group.condition is not None
            r = self._condition(group.condition, here)
            if r.kind == "wait":
                return None
            if r.kind == "ok" and r.ref is False:
                r = Resolution("skip", reason=f"condition {describe(group.condition)} was false")
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
                    r = Resolution("error", reason=why)
            if r.kind != "ok":
                self._close(g, scope, st, r, out)
        elif group.kind == "loop":
            st.iterations = 1
        self._groups[(g, scope)] = st
        return st

    def _close(
        self, g: str, scope: Scope, st: GroupState, r: Resolution, out: list[Launch | NotRun]
    ) -> None:
        """A group whose tasks will not run: record them all once."""
        st.verdict, st.reason = VERDICT[r.kind], r.reason
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
                self._decide(out, NotRun(name, task, state, reason, scope))

    def _decide(self, out: list[Launch | NotRun], decision: NotRun) -> None:
        """Record that an instance will not run (and why, when that is a failure)."""
        self.states[decision.name] = decision.state
        if decision.state == ExecutionState.FAILED:
            self.errors[decision.name] = decision.reason
        out.append(decision)

    def _next_iteration(self, g: str, scope: Scope, st: GroupState) -> None:
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
                st.finished, st.failed, st.stop_failed = True, True, True
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
            if kind == "parallel_for":
                # items end in about their order: the first one still running decides
                end = st.admitted if self.cancelled else len(st.items)  # the rest never start
                for i in range(st.first_open, end):
                    if not self._item_done(child, scope, st, i):
                        done = False
                        break
                failed += st.item_failures
                continue
            sub = scope
            if kind == "loop":
                if not st.finished and not self.cancelled:
                    done = False
                if st.stop_failed:
                    failed.append(f"{instance_name(child, scope)} ({st.reason})")
                # earlier iterations settled before the last began, and never failed
                sub = (*scope, (child, st.iterations - 1))
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
        verdicts: list[tuple[str, Resolution]] = []
        handler_of = self._handled.get(inst.task)
        status: dict[str, Any] | None = None
        if self.cancelled and handler_of is None:
            reason = "run cancelled"
            self._decide(out, NotRun(name, inst.task, ExecutionState.CANCELED, reason, inst.scope))
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
        bad = worst((r for _, r in verdicts), PRECEDENCE[:3])
        if bad is not None:
            state = VERDICT[bad.kind]
            self._decide(out, NotRun(name, inst.task, state, bad.reason, inst.scope))
            return
        waiting = [k for k, r in verdicts if r.kind == "wait"]
        if waiting:
            self._waiting[name] = (inst, f"waiting for {', '.join(waiting)}")
            return
        try:
            task_spec = resolve_options(spec, dynamic)
        except OptionError as exc:
            failed_option = NotRun(name, inst.task, ExecutionState.FAILED, str(exc), inst.scope)
            self._decide(out, failed_option)
            return
        inputs = {k: v for k, v in lowered.items() if v is not ABSENT}
        task_spec = dataclasses.replace(
            task_spec, name=name, inputs=inputs, depends_on=(), group=None, dynamic={}
        )
        self.running[name] = inst
        out.append(Launch(inst, task_spec))

    def _run_status(self, failed: list[str]) -> dict[str, Any]:
        errors = [self.errors[n] for n in failed if n in self.errors]
        return {
            "state": "CANCELED" if self.cancelled else "FAILED" if failed else "COMPLETE",
            "pipeline": self.spec.name,
            "run_id": self.run_id,
            "failed_tasks": failed,
            "error": errors[0] if errors else None,
        }


def _base(name: str) -> str:
    return name.split("[", 1)[0]
