"""API routes of the UI: lineage graphs around an artifact or an execution.

``GET /lineage/artifacts/{id}`` and ``GET /lineage/executions/{id}``, with
``direction=upstream|downstream|both`` and ``depth=N`` (executions along a path, 1..10),
answer ``{nodes, edges, truncated}`` in the shape ``static/js/graph.js`` draws: nodes of
``kind`` ``artifact`` (label: the type, sublabel: ``#id``) and ``execution`` (label: the
task, with its run), the focus node flagged ``focus: true``. Each direction is one call of
the store's ``lineage()`` (one recursive query); a graph above ``MAX_NODES`` nodes is cut
(nodes nearest the focus kept) and says ``truncated: true``.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query

from conveyor.metadata.entities import LineageGraph
from conveyor.metadata.store import CONTEXT_RUN
from conveyor.ui.context import UIContext, ui_context

__all__ = ["MAX_NODES", "router"]

router = APIRouter(tags=["lineage"])

MAX_NODES = 400
"""Nodes of a lineage graph at most; more are cut and the answer says ``truncated``."""
Direction = Literal["upstream", "downstream", "both"]


class _Graph:
    """Nodes and edges merged from several lineage walks."""

    def __init__(self) -> None:
        self.artifacts: dict[int, Any] = {}
        self.executions: dict[int, Any] = {}
        self.edges: set[tuple[str, str]] = set()

    def add(self, graph: LineageGraph) -> None:
        for a in graph.artifacts:
            self.artifacts[a.id] = a
        for x in graph.executions:
            self.executions[x.id] = x
        for e in graph.events:
            if e.artifact_id not in self.artifacts or e.execution_id not in self.executions:
                continue
            art, ex = f"a{e.artifact_id}", f"e{e.execution_id}"
            self.edges.add((ex, art) if e.type.is_output else (art, ex))


def _runs(ctx: UIContext, execution_ids: list[int]) -> dict[int, str]:
    """The run id of each execution (one contexts query per execution, capped by MAX_NODES)."""
    runs: dict[int, str] = {}
    for i in execution_ids:
        for c in ctx.metadata.get_execution_contexts(i):
            if c.type_name == CONTEXT_RUN:
                runs[i] = c.name
    return runs


def _cut(graph: _Graph, focus: str) -> bool:
    """Keep the MAX_NODES nodes nearest ``focus`` (breadth first); True if any were cut."""
    total = len(graph.artifacts) + len(graph.executions)
    if total <= MAX_NODES:
        return False
    nbrs: dict[str, list[str]] = {}
    for s, t in sorted(graph.edges):
        nbrs.setdefault(s, []).append(t)
        nbrs.setdefault(t, []).append(s)
    keep = {focus}
    frontier = [focus]
    while frontier and len(keep) < MAX_NODES:
        nxt = []
        for node in frontier:
            for n in nbrs.get(node, []):
                if n not in keep and len(keep) < MAX_NODES:
                    keep.add(n)
                    nxt.append(n)
        frontier = nxt
    graph.artifacts = {i: a for i, a in graph.artifacts.items() if f"a{i}" in keep}
    graph.executions = {i: x for i, x in graph.executions.items() if f"e{i}" in keep}
    graph.edges = {(s, t) for s, t in graph.edges if s in keep and t in keep}
    return True


def _answer(ctx: UIContext, graph: _Graph, focus: str, direction: str, depth: int) -> Any:
    truncated = _cut(graph, focus)
    runs = _runs(ctx, sorted(graph.executions))
    nodes: list[dict[str, Any]] = []
    for a in sorted(graph.artifacts.values(), key=lambda a: a.id):
        node_id = f"a{a.id}"
        nodes.append(
            {
                "id": node_id,
                "kind": "artifact",
                "artifact_id": a.id,
                "label": a.type_name.split("@")[0].removeprefix("conveyor."),
                "sublabel": f"#{a.id}" + (f" {a.name.rsplit('/', 1)[-1]}" if a.name else ""),
                "title": a.name or a.uri,
                "state": str(a.state),
                "href": f"/artifacts/{a.id}",
                "focus": node_id == focus,
            }
        )
    for x in sorted(graph.executions.values(), key=lambda x: x.id):
        node_id = f"e{x.id}"
        run = runs.get(x.id)
        label = str(x.properties.get("task", x.name))
        comp = str(x.properties.get("component", label))
        nodes.append(
            {
                "id": node_id,
                "kind": "execution",
                "execution_id": x.id,
                "label": label,
                "sublabel": f"execution #{x.id}" + (f" {comp}" if comp != label else ""),
                "title": f"run {run}" if run else x.type_name,
                "state": str(x.state),
                "run": run,
                "href": f"/runs/{run}" if run else None,
                "focus": node_id == focus,
            }
        )
    edges = [{"source": s, "target": t} for s, t in sorted(graph.edges)]
    return {
        "focus": focus,
        "direction": direction,
        "depth": depth,
        "nodes": nodes,
        "edges": edges,
        "truncated": truncated,
        "max_nodes": MAX_NODES,
    }


def _walks(direction: Direction) -> list[Literal["upstream", "downstream"]]:
    return ["upstream", "downstream"] if direction == "both" else [direction]


_DIRECTION = Query("both", description="upstream, downstream or both")
_DEPTH = Query(3, ge=1, le=10, description="executions along a path, at most")


@router.get("/lineage/artifacts/{artifact_id}")
def artifact_lineage(
    artifact_id: int,
    direction: Direction = _DIRECTION,
    depth: int = _DEPTH,
    ctx: UIContext = Depends(ui_context),
) -> Any:
    """The lineage graph around an artifact."""
    graph = _Graph()
    for walk in _walks(direction):
        graph.add(ctx.metadata.lineage(artifact_id, walk, max_depth=depth))
    return _answer(ctx, graph, f"a{artifact_id}", direction, depth)


@router.get("/lineage/executions/{execution_id}")
def execution_lineage(
    execution_id: int,
    direction: Direction = _DIRECTION,
    depth: int = _DEPTH,
    ctx: UIContext = Depends(ui_context),
) -> Any:
    """The lineage graph around an execution: upstream of its inputs, downstream of its
    outputs (``depth`` counts the execution itself)."""
    ex = ctx.metadata.get_execution(execution_id)
    graph = _Graph()
    graph.executions[ex.id] = ex
    events = ctx.metadata.get_events(execution_ids=[ex.id])
    inputs = sorted({e.artifact_id for e in events if e.type.is_input})
    outputs = sorted({e.artifact_id for e in events if e.type.is_output})
    for a in ctx.metadata.get_artifacts([*inputs, *outputs]):
        graph.artifacts[a.id] = a
    rest = depth - 1
    if rest > 0 and direction in ("upstream", "both"):
        for i in inputs[:MAX_NODES]:
            graph.add(ctx.metadata.lineage(i, "upstream", max_depth=rest))
    if rest > 0 and direction in ("downstream", "both"):
        for i in outputs[:MAX_NODES]:
            graph.add(ctx.metadata.lineage(i, "downstream", max_depth=rest))
    graph.add(LineageGraph(events=tuple(events)))
    return _answer(ctx, graph, f"e{ex.id}", direction, depth)
