"""A malformed IR document raises CompilationError (never KeyError, ValueError or TypeError)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from conveyor.errors import CompilationError, ConveyorError
from conveyor.ir import PipelineSpec, dumps, loads


def _valid(full_spec: PipelineSpec) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(dumps(full_spec))
    return data


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node = doc
        for key in parents:
            node = node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


_DELETE = object()

BROKEN = {
    "no pipeline": _set("pipeline", _DELETE),
    "pipeline is a list": _set("pipeline", []),
    "no pipeline name": _set("pipeline/name", _DELETE),
    "no components": _set("components", _DELETE),
    "tasks is a list": _set("tasks", ["produce"]),
    "component without implementation": _set("components/produce/implementation", _DELETE),
    "component without inputs": _set("components/produce/inputs", _DELETE),
    "parameter without type": _set("pipeline/parameters/threshold/type", _DELETE),
    "artifact without type": _set("components/produce/outputs/artifacts/data/type", _DELETE),
    "task without component": _set("tasks/produce/component", _DELETE),
    "retry count is text": _set("components/produce/options/retry/max_retries", "many"),
    "gpu is text": _set("tasks/produce/options/resources/gpu", "one"),
    "timeout is text": _set("tasks/produce/options/timeout_seconds", "soon"),
    "input is a string": _set("tasks/consume/inputs/data", "produce.data"),
    "input is a number": _set("tasks/consume/inputs/data", 3),
    "input has an unknown kind": _set("tasks/consume/inputs/data", {"secret": 1}),
    "input has two kinds": _set(
        "tasks/consume/inputs/data", {"constant": 1, "pipeline_parameter": "mode"}
    ),
    "task_output without output": _set("tasks/consume/inputs/data", {"task_output": {"task": "a"}}),
    "list is not a list": _set("tasks/gather/inputs/values", {"list": "abc"}),
    "condition where a value belongs": _set(
        "tasks/gather/inputs/mode", {"op": "==", "args": [{"constant": 1}, {"constant": 1}]}
    ),
    "value where a condition belongs": _set("groups/gate/condition", {"constant": True}),
    "condition args not a list": _set("groups/gate/condition", {"op": "not", "args": "x"}),
    "group without kind": _set("groups/gate/kind", _DELETE),
    "items is a condition": _set(
        "groups/fan/items", {"op": "==", "args": [{"constant": 1}, {"constant": 1}]}
    ),
}


@pytest.mark.parametrize("mutate", BROKEN.values(), ids=list(BROKEN))
def test_loads_raises_compilation_error_for_a_malformed_document(
    full_spec: PipelineSpec, mutate: Callable[[dict[str, Any]], None]
) -> None:
    doc = _valid(full_spec)
    mutate(doc)

    with pytest.raises(CompilationError):
        loads(json.dumps(doc))


@pytest.mark.parametrize("text", ["", "{", "not json", "[1, 2]", '"text"', "null"])
def test_loads_raises_compilation_error_for_text_that_is_not_a_json_object(text: str) -> None:
    with pytest.raises(CompilationError):
        loads(text)


def test_loads_points_at_the_schema_for_a_shape_problem(full_spec: PipelineSpec) -> None:
    doc = _valid(full_spec)
    del doc["components"]["produce"]["inputs"]

    with pytest.raises(CompilationError) as info:
        loads(json.dumps(doc))

    assert "'inputs'" in str(info.value)
    assert "pipeline_spec.v1.json" in str(info.value)
    assert isinstance(info.value.__cause__, KeyError)


def test_dumps_raises_compilation_error_for_a_value_json_cannot_hold(
    full_spec: PipelineSpec,
) -> None:
    from dataclasses import replace

    from conveyor.ir import Constant

    task = replace(full_spec.tasks["refit"], inputs={"x": Constant(float("nan"))})
    spec = replace(full_spec, tasks={**full_spec.tasks, "refit": task})

    with pytest.raises(CompilationError, match="cannot be written as JSON"):
        dumps(spec)


def test_compilation_error_is_a_conveyor_error() -> None:
    assert issubclass(CompilationError, ConveyorError)
