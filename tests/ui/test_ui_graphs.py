"""The graph builder of the run and pipelines pages (conveyor.ui.graphs), on real IRs: groups
collapsed and opened, a 100-step pipeline, a 1,000-instance parallel-for."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from conveyor.ir.serialize import dumps, loads
from conveyor.ir.spec import PipelineSpec
from conveyor.metadata import ExecutionRecord, ExecutionState
from conveyor.ui.graphs import (
    aggregate_state,
    latest_instances,
    pipeline_graph,
    run_graph,
    task_edges,
)

HERE = Path(__file__).parent


def _load(path: Path, name: str) -> ModuleType:
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(path.parent))


@pytest.fixture(scope="module")
def ui_pipelines() -> ModuleType:
    return _load(HERE / "pipelines" / "ui_pipelines.py", "ui_pipelines")


@pytest.fixture(scope="module")
def flow() -> ModuleType:
    return _load(HERE.parent / "integration" / "pipelines" / "flow_pipelines.py", "flow_pipelines")


def _spec(p: Any) -> PipelineSpec:
    return loads(dumps(p.spec))  # as the UI reads it: from the stored JSON


def _exec(eid: int, name: str, state: str, **props: Any) -> ExecutionRecord:
    now = datetime.now(UTC)
    base = name.split("[")[0]
    properties = {"task": name, "base_task": base, "duration_seconds": 0.5, **props}
    return ExecutionRecord(eid, base, name, ExecutionState(state), None, properties, now, now)


def _ids(graph: dict[str, Any]) -> set[str]:
    return {n["id"] for n in graph["nodes"]}


def _edges(graph: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["source"], e["target"]) for e in graph["edges"]}


def test_the_static_graph_collapses_a_parallel_for_and_keeps_its_edges(flow: ModuleType):
    spec = _spec(flow.fanout)
    graph = pipeline_graph(spec)
    assert _ids(graph) == {"shards", "group:parallel-for-1", "merge"}
    # the parallel-for's items come from shards: an edge even though process has no depends_on
    assert _edges(graph) == {("shards", "group:parallel-for-1"), ("group:parallel-for-1", "merge")}
    group = next(n for n in graph["nodes"] if n["kind"] == "group")
    assert group["expandable"] and group["state"] is None
    assert "process" in group["title"]
    opened = pipeline_graph(spec, expand=["parallel-for-1"])
    assert _ids(opened) == {"shards", "process", "merge"}
    assert _edges(opened) == {("shards", "process"), ("process", "merge")}


def test_a_run_graph_counts_instances_by_state_and_opens_on_request(flow: ModuleType):
    spec = _spec(flow.fanout)
    runs = [_exec(1, "shards", "COMPLETE")]
    runs += [
        _exec(2 + i, f"process[{i}]", "COMPLETE", scope={"parallel-for-1": i}) for i in range(3)
    ]
    runs.append(_exec(9, "process[3]", "FAILED", scope={"parallel-for-1": 3}))
    runs.append(_exec(10, "process[1]", "RUNNING", scope={"parallel-for-1": 1}))  # a retry
    instances = latest_instances(spec, runs)
    assert [i.name for i in instances].count("process[1]") == 1
    graph = run_graph(spec, instances, finished=False)
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["shards"]["state"] == "COMPLETE"
    assert nodes["merge"]["state"] == "PENDING"  # not run yet
    group = nodes["group:parallel-for-1"]
    assert group["state"] == "RUNNING"
    assert group["sublabel"] == "4 instances: 2 ✓ 1 ▶ 1 ✗"
    opened = run_graph(spec, instances, finished=False, expand=["parallel-for-1"], limit=2)
    nodes = {n["id"]: n for n in opened["nodes"]}
    assert {"process[0]", "process[1]"} <= set(nodes)
    assert nodes["process[1]"]["state"] == "RUNNING"
    assert nodes["process[1]"]["execution_id"] == 10
    more = nodes["more:parallel-for-1"]
    assert more["label"] == "+2 more" and more["state"] == "FAILED"
    assert ("shards", "process[0]") in _edges(opened)
    assert ("more:parallel-for-1", "merge") in _edges(opened)


def test_a_finished_group_is_complete_and_a_failed_one_failed():
    assert aggregate_state(["COMPLETE", "CACHED", "SKIPPED"], finished=True) == "COMPLETE"
    assert aggregate_state(["COMPLETE", "FAILED"], finished=True) == "FAILED"
    assert aggregate_state(["CACHED", "CACHED"], finished=True) == "CACHED"
    assert aggregate_state([], finished=True) == "PENDING"
    # between two instances of a running run, a group with no running instance is in progress
    assert aggregate_state(["COMPLETE"], finished=False) == "RUNNING"


def test_an_opened_loop_links_each_iteration_to_the_next(flow: ModuleType):
    spec = _spec(flow.boosting)
    runs = []
    for i in range(3):
        scope = {"loop-1": i}
        runs.append(_exec(10 * i + 1, f"grow[{i}]", "COMPLETE", scope=scope))
        runs.append(_exec(10 * i + 2, f"judge[{i}]", "COMPLETE", scope=scope))
    instances = latest_instances(spec, runs)
    collapsed = run_graph(spec, instances, finished=True)
    assert _ids(collapsed) == {"group:loop-1", "finalize"}
    opened = run_graph(spec, instances, finished=True, expand=["loop-1"])
    edges = _edges(opened)
    assert ("grow[0]", "judge[0]") in edges and ("grow[0]", "judge[1]") not in edges
    assert ("grow[0]", "grow[1]") in edges and ("grow[1]", "grow[2]") in edges  # the carry
    assert ("judge[0]", "judge[1]") in edges  # best_so_far carried from judge to judge
    assert {n["state"] for n in opened["nodes"] if n["id"] == "finalize"} == {"PENDING"}
    # the first `limit` instances are whole iterations: grow[0] and judge[0], not grow[0..1]
    capped = run_graph(spec, instances, finished=True, expand=["loop-1"], limit=2)
    assert {"grow[0]", "judge[0]", "more:loop-1"} <= _ids(capped)
    assert "grow[1]" not in _ids(capped)


def test_a_100_step_pipeline_is_100_nodes_and_its_edges(ui_pipelines: ModuleType):
    spec = _spec(ui_pipelines.hundred)
    assert len(spec.tasks) == 100
    runs = [_exec(i + 1, name, "COMPLETE") for i, name in enumerate(spec.tasks)]
    graph = run_graph(spec, latest_instances(spec, runs), finished=True)
    assert len(graph["nodes"]) == 100
    # each step of layers 2-10 has two parents
    assert len(graph["edges"]) == len(task_edges(spec)) == 9 * 10 * 2
    assert {n["state"] for n in graph["nodes"]} == {"COMPLETE"}


def test_a_1000_instance_parallel_for_stays_one_node_or_a_bounded_page(
    ui_pipelines: ModuleType,
):
    spec = _spec(ui_pipelines.thousand)
    group = next(iter(spec.groups))
    runs = [_exec(1, "items", "COMPLETE")]
    for i in range(1000):
        state = "FAILED" if i in (10, 500) else "COMPLETE"
        runs.append(_exec(2 + i, f"square[{i}]", state, scope={group: i}))
    instances = latest_instances(spec, runs)
    graph = run_graph(spec, instances, finished=True)
    assert len(graph["nodes"]) == 3
    node = next(n for n in graph["nodes"] if n["kind"] == "group")
    assert node["sublabel"] == "1000 instances: 998 ✓ 2 ✗"
    assert node["state"] == "FAILED"
    opened = run_graph(spec, instances, finished=True, expand=[group])
    assert len(opened["nodes"]) == 2 + 200 + 1  # items, total, 200 instances, "+800 more"
    assert len(opened["edges"]) <= 2 * 201
    more = next(n for n in opened["nodes"] if n.get("more"))
    assert more["label"] == "+800 more" and more["state"] == "FAILED"
    wide = run_graph(spec, instances, finished=True, expand=[group], limit=1000)
    assert len(wide["nodes"]) == 1002
