"""The graphs the UI draws: a pipeline's tasks from its IR, and a run's (the same graph with
each task's newest execution state), in ``static/js/graph.js``'s ``{nodes, edges}`` format.

Loops and parallel-fors are collapsed into one group node each (their instances counted by
state) unless named in ``expand``; an expanded group shows its instances (``train[3]``), the
first ``limit`` of them and a "+N more" node, so a 1,000-instance parallel-for stays readable.
Pure functions over the IR and execution records: no I/O, no web framework.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conveyor.ir.spec import (
    CollectedRef,
    Condition,
    ListRef,
    LoopCarryRef,
    OneOfRef,
    PipelineSpec,
    TaskOutputRef,
    ValueRef,
)
from conveyor.metadata.entities import EventRecord, ExecutionRecord

__all__ = [
    "DEFAULT_LIMIT",
    "PENDING",
    "Instance",
    "aggregate_state",
    "executions_graph",
    "latest_instances",
    "pipeline_graph",
    "run_graph",
    "task_edges",
]

DEFAULT_LIMIT = 200
"""Instances drawn per expanded group; the rest become one "+N more" node."""

PENDING = "PENDING"
"""The state of a task with no execution yet."""

_SUCCESS = frozenset({"COMPLETE", "CACHED"})
_SYMBOLS = (
    ("COMPLETE", "✓"),
    ("CACHED", "⟲"),
    ("RUNNING", "▶"),
    ("FAILED", "✗"),
    ("CANCELED", "■"),
    ("SKIPPED", "⤼"),
    ("NEW", "…"),
)
_INDEX = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True)
class Instance:
    """The newest execution of one task instance (``train`` or ``train[3]``) of a run."""

    execution_id: int
    name: str
    task: str
    scope: tuple[int, ...]
    state: str
    duration_seconds: float | None = None


def _refs(ref: ValueRef | Condition | None) -> Iterator[ValueRef]:
    """Every reference inside ``ref`` (lists, one-ofs and conditions opened)."""
    if ref is None:
        return
    if isinstance(ref, Condition):
        for arg in ref.args:
            yield from _refs(arg)
    elif isinstance(ref, ListRef | OneOfRef):
        for item in ref.items:
            yield from _refs(item)
    else:
        yield ref


def _upstream(ref: ValueRef | Condition | None) -> Iterator[str]:
    for r in _refs(ref):
        if isinstance(r, TaskOutputRef | CollectedRef):
            yield r.task


def task_edges(spec: PipelineSpec) -> list[tuple[str, str]]:
    """``(upstream, downstream)`` task pairs: ``depends_on``, inputs bound to other tasks'
    outputs, and the refs of the groups a task is in (a parallel-for's items, a condition).
    Loop-carried values (an iteration feeding the next) are left out: they are not edges
    between tasks of the static graph."""
    edges: dict[tuple[str, str], None] = {}
    for name, task in spec.tasks.items():
        sources: list[str] = list(task.depends_on)
        for ref in task.inputs.values():
            sources.extend(_upstream(ref))
        for group in spec.groups_of(name):
            g = spec.groups[group]
            sources.extend(_upstream(g.items))
            sources.extend(_upstream(g.condition))
        for source in sources:
            if source != name and source in spec.tasks:
                edges[(source, name)] = None
    return list(edges)


def _scope_of(spec: PipelineSpec, task: str, record: ExecutionRecord) -> tuple[int, ...]:
    chain = spec.iterating_groups_of(task) if task in spec.tasks else []
    scope = record.properties.get("scope")
    if isinstance(scope, Mapping) and chain and all(g in scope for g in chain):
        return tuple(int(scope[g]) for g in chain)
    return tuple(int(i) for i in _INDEX.findall(record.name))


def latest_instances(
    spec: PipelineSpec | None, executions: Iterable[ExecutionRecord]
) -> list[Instance]:
    """The newest execution of each task instance (by execution id), oldest instance first."""
    newest: dict[str, ExecutionRecord] = {}
    for record in executions:
        name = str(record.properties.get("task") or record.name)
        if name not in newest or record.id > newest[name].id:
            newest[name] = record
    out = []
    for name, record in newest.items():
        props = record.properties
        task = str(props.get("base_task") or _INDEX.sub("", name))
        duration = props.get("duration_seconds")
        out.append(
            Instance(
                execution_id=record.id,
                name=name,
                task=task,
                scope=_scope_of(spec, task, record) if spec is not None else (),
                state=str(record.state.value),
                duration_seconds=float(duration) if isinstance(duration, int | float) else None,
            )
        )
    out.sort(key=lambda i: i.execution_id)
    return out


def aggregate_state(states: Collection[str], *, finished: bool) -> str:
    """One state for a group of instances: running or failed first, then done or pending.

    Args:
        states: the states of the group's instances.
        finished: the run is over (no more instances will start).
    """
    counts = Counter(states)
    if not counts:
        return PENDING
    for state in ("RUNNING", "FAILED", "CANCELED"):
        if counts[state]:
            return state
    if not finished and (counts["NEW"] or counts[PENDING]):
        return "RUNNING"
    if counts.keys() <= {"CACHED"}:
        return "CACHED"
    if counts.keys() <= {"SKIPPED"}:
        return "SKIPPED"
    if counts.keys() <= _SUCCESS | {"SKIPPED"}:
        return "COMPLETE" if finished else "RUNNING"
    return "RUNNING" if not finished else "COMPLETE"


def _count_label(states: Collection[str], noun: str = "instances") -> str:
    counts = Counter(states)
    parts = [f"{counts[s]} {sym}" for s, sym in _SYMBOLS if counts[s]]
    return f"{len(states)} {noun}: " + " ".join(parts) if parts else f"{len(states)} {noun}"


def _group_title(spec: PipelineSpec, group: str) -> str:
    g = spec.groups[group]
    tasks = [t for t in spec.tasks if group in spec.groups_of(t)]
    kind = g.kind.replace("_", "-")
    extra = ""
    if g.kind == "parallel_for":
        source = next(_upstream(g.items), None)
        extra = f" over {source}'s output" if source else ""
        extra += f", {g.parallelism} at once" if g.parallelism else ""
    elif g.kind == "loop" and g.max_iterations:
        extra = f", at most {g.max_iterations} iterations"
    return f"{kind} {group}{extra}; tasks: {', '.join(tasks)}"


def _task_title(spec: PipelineSpec, task: str) -> str:
    t = spec.tasks[task]
    lines = [f"component {t.component}"]
    for group in spec.groups_of(task):
        g = spec.groups[group]
        if g.kind == "condition":
            lines.append(f"runs only when {group}'s condition holds")
        elif g.kind == "exit_handler":
            lines.append(f"inside exit handler {group}")
    for g in spec.groups.values():
        if g.kind == "exit_handler" and g.handler_task == task:
            lines.append(f"exit handler of {g.name}: always runs")
    return "\n".join(lines)


def _fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _instance_sublabel(inst: Instance) -> str:
    if inst.state == "CACHED":
        return "cached"
    if inst.state in ("RUNNING", "SKIPPED", "NEW"):
        return inst.state.lower()
    return _fmt_seconds(inst.duration_seconds)


class _Builder:
    """Assembles nodes and edges; display nodes of each task remembered for the edges."""

    def __init__(self, spec: PipelineSpec, expand: Collection[str], limit: int) -> None:
        self.spec = spec
        self.expand = set(expand)
        self.limit = max(1, limit)
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: dict[tuple[str, str], None] = {}
        # task -> the ids of the nodes that stand for it (with each instance's scope)
        self.shown: dict[str, list[tuple[str, tuple[int, ...] | None]]] = defaultdict(list)

    def collapsed_into(self, task: str) -> str | None:
        """The outermost iterating group of ``task`` that is not expanded, if any."""
        for group in self.spec.iterating_groups_of(task):
            if group not in self.expand:
                return group
        return None

    def add(self, node: dict[str, Any]) -> None:
        self.nodes.setdefault(node["id"], node)

    def edge(self, source: str, target: str) -> None:
        if source != target:
            self.edges[(source, target)] = None

    def link(self, a: str, b: str) -> None:
        """Edges between the nodes of task ``a`` and those of task ``b``."""
        left, right = self.shown.get(a, []), self.shown.get(b, [])
        if not left or not right:
            return
        chain_a = self.spec.iterating_groups_of(a)
        chain_b = self.spec.iterating_groups_of(b)
        common = 0
        while common < min(len(chain_a), len(chain_b)) and chain_a[common] == chain_b[common]:
            common += 1
        scoped = common and all(s is not None for _, s in left + right)
        if scoped:  # same iteration of the groups both are in: train[3] -> eval[3]
            by_key: dict[tuple[int, ...], list[str]] = defaultdict(list)
            for node, scope in right:
                by_key[(scope or ())[:common]].append(node)
            for node, scope in left:
                for target in by_key.get((scope or ())[:common], []):
                    self.edge(node, target)
            return
        if len(left) * len(right) <= 4 * self.limit:
            for source, _ in left:
                for target, _ in right:
                    self.edge(source, target)
        else:  # two unrelated sets of instances: no N x M mesh
            for source, _ in left:
                self.edge(source, right[0][0])
            for target, _ in right:
                self.edge(left[-1][0], target)

    def carry_edges(self) -> None:
        """In an expanded loop: the instance of iteration i feeds the next one's."""
        for name, task in self.spec.tasks.items():
            for ref in task.inputs.values():
                if not isinstance(ref, LoopCarryRef) or ref.group not in self.expand:
                    continue
                carry = self.spec.groups[ref.group].carry.get(ref.name)
                sources = list(_upstream(carry.next)) if carry else []
                chain = self.spec.iterating_groups_of(name)
                if not sources or ref.group not in chain:
                    continue
                pos = chain.index(ref.group)
                targets = {s: n for n, s in self.shown.get(name, []) if s is not None}
                for n, scope in self.shown.get(sources[0], []):
                    if scope is None or len(scope) <= pos:
                        continue
                    nxt = (*scope[:pos], scope[pos] + 1, *scope[pos + 1 :])
                    if nxt in targets:
                        self.edge(n, targets[nxt])

    def result(self) -> dict[str, Any]:
        for a, b in task_edges(self.spec):
            self.link(a, b)
        self.carry_edges()
        return {
            "nodes": list(self.nodes.values()),
            "edges": [{"source": s, "target": t} for s, t in self.edges],
        }


def pipeline_graph(spec: PipelineSpec, *, expand: Collection[str] = ()) -> dict[str, Any]:
    """The static graph of a pipeline: one node per task, iterating groups collapsed unless in
    ``expand`` (then their tasks are drawn, once each)."""
    return run_graph(spec, [], finished=False, expand=expand, static=True)


def run_graph(
    spec: PipelineSpec,
    instances: Sequence[Instance],
    *,
    finished: bool,
    expand: Collection[str] = (),
    limit: int = DEFAULT_LIMIT,
    static: bool = False,
) -> dict[str, Any]:
    """A run's graph: the pipeline's tasks coloured by their newest execution's state.

    Args:
        spec: the run's pipeline IR.
        instances: the newest execution of each task instance (:func:`latest_instances`).
        finished: the run is over (groups with no running instance are then done).
        expand: iterating groups to open: their instances are drawn (at most ``limit``).
        limit: instances per expanded group; the rest are one "+N more" node.
        static: no run: nodes carry no state (the pipelines page).
    """
    b = _Builder(spec, expand, limit)
    by_task: dict[str, list[Instance]] = defaultdict(list)
    for inst in instances:
        by_task[inst.task].append(inst)
    group_states: dict[str, list[str]] = defaultdict(list)
    hidden: dict[str, list[str]] = defaultdict(list)
    order = _order(spec)
    visible = _visible(spec, b, order, by_task)
    for task in order:
        mine = sorted(by_task.get(task, []), key=lambda i: (i.scope, i.execution_id))
        group = b.collapsed_into(task)
        if group is not None:
            node_id = f"group:{group}"
            group_states[group].extend(i.state for i in mine)
            b.add({"id": node_id, "label": group, "kind": "group", "group": group})
            b.shown[task] = [(node_id, None)]
            continue
        chain = spec.iterating_groups_of(task)
        if not chain or not mine:
            state = None if static else (mine[-1].state if mine else PENDING)
            last = mine[-1] if mine else None
            component = spec.tasks[task].component
            sub = component if component != task else ""
            if last is not None:
                sub = _instance_sublabel(last)
            elif chain:
                sub = f"in {chain[-1]}" if static else f"in {chain[-1]}: not started"
            b.add(
                {
                    "id": task,
                    "label": spec.tasks[task].display_name or task,
                    "sublabel": sub,
                    "state": state,
                    "kind": "task",
                    "task": task,
                    "execution_id": last.execution_id if last else None,
                    "title": _task_title(spec, task),
                }
            )
            b.shown[task] = [(task, None)]
            continue
        inner = chain[-1]
        shown: list[tuple[str, tuple[int, ...] | None]] = []
        for inst in mine:
            if inst.execution_id not in visible:
                hidden[inner].append(inst.state)
                shown.append((f"more:{inner}", inst.scope))
                continue
            b.add(
                {
                    "id": inst.name,
                    "label": inst.name,
                    "sublabel": _instance_sublabel(inst),
                    "state": inst.state,
                    "kind": "task",
                    "task": task,
                    "group": inner,
                    "execution_id": inst.execution_id,
                    "title": _task_title(spec, task),
                }
            )
            shown.append((inst.name, inst.scope))
        b.shown[task] = shown
    for group, states in hidden.items():
        b.add(
            {
                "id": f"more:{group}",
                "label": f"+{len(states)} more",
                "sublabel": _count_label(states),
                "state": aggregate_state(states, finished=finished),
                "kind": "group",
                "group": group,
                "more": True,
                "title": f"{len(states)} more instances of {group} (raise limit= to see them)",
            }
        )
    for group in {n["group"] for n in b.nodes.values() if n["id"].startswith("group:")}:
        node = b.nodes[f"group:{group}"]
        states = group_states[group]
        g = spec.groups[group]
        node["title"] = _group_title(spec, group)
        node["expandable"] = True
        if static:
            tasks = [t for t in spec.tasks if group in spec.groups_of(t)]
            node["sublabel"] = f"{g.kind.replace('_', '-')}: {len(tasks)} tasks"
            node["state"] = None
        else:
            node["sublabel"] = _count_label(states)
            node["state"] = aggregate_state(states, finished=finished)
    return b.result()


def _visible(
    spec: PipelineSpec, b: _Builder, order: list[str], by_task: Mapping[str, list[Instance]]
) -> set[int]:
    """The executions drawn in expanded groups: per group, the first ``limit`` instances by
    iteration, then task order (whole iterations first)."""
    per_group: dict[str, list[tuple[tuple[int, ...], int, int]]] = defaultdict(list)
    for pos, task in enumerate(order):
        chain = spec.iterating_groups_of(task)
        if not chain or b.collapsed_into(task) is not None:
            continue
        for inst in by_task.get(task, []):
            per_group[chain[-1]].append((inst.scope, pos, inst.execution_id))
    visible: set[int] = set()
    for items in per_group.values():
        items.sort()
        visible.update(eid for _, _, eid in items[: b.limit])
    return visible


def _order(spec: PipelineSpec) -> list[str]:
    """Tasks in dependency order (by the graph's edges), declaration order on ties or cycles."""
    deps: dict[str, set[str]] = {t: set() for t in spec.tasks}
    for a, bb in task_edges(spec):
        deps[bb].add(a)
    order: list[str] = []
    placed: set[str] = set()
    remaining = list(spec.tasks)
    while remaining:
        ready = [t for t in remaining if deps[t] <= placed] or remaining[:1]
        for t in ready:
            order.append(t)
            placed.add(t)
        remaining = [t for t in remaining if t not in placed]
    return order


def executions_graph(
    instances: Sequence[Instance], events: Iterable[EventRecord], *, limit: int = DEFAULT_LIMIT
) -> dict[str, Any]:
    """A run's graph without its IR (a run recorded before pipeline versions were): one node
    per task instance (the first ``limit``), edges where an artifact one produced is another's
    input."""
    shown = {i.execution_id: i for i in list(instances)[:limit]}
    producer: dict[int, int] = {}
    consumers: list[tuple[int, int]] = []
    for ev in events:
        if ev.type.is_output:
            producer[ev.artifact_id] = ev.execution_id
        elif ev.type.is_input:
            consumers.append((ev.artifact_id, ev.execution_id))
    edges: dict[tuple[str, str], None] = {}
    for artifact_id, consumer in consumers:
        source = producer.get(artifact_id)
        if source in shown and consumer in shown and source != consumer:
            edges[(shown[source].name, shown[consumer].name)] = None
    nodes = [
        {
            "id": i.name,
            "label": i.name,
            "sublabel": _instance_sublabel(i),
            "state": i.state,
            "kind": "task",
            "task": i.task,
            "execution_id": i.execution_id,
        }
        for i in shown.values()
    ]
    if len(instances) > limit:
        rest = [i.state for i in list(instances)[limit:]]
        nodes.append(
            {
                "id": "more:",
                "label": f"+{len(rest)} more",
                "sublabel": _count_label(rest),
                "state": aggregate_state(rest, finished=True),
                "kind": "group",
                "more": True,
            }
        )
    return {"nodes": nodes, "edges": [{"source": s, "target": t} for s, t in edges]}
