"""The shipped JSON Schema accepts every IR that ``dumps`` writes and rejects broken ones."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest

from conveyor.ir import PipelineSpec, dumps
from conveyor.ir.spec import COMPARISON_OPS, LOGICAL_OPS, PARAMETER_TYPES


def _errors(schema: dict[str, Any], doc: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [e.message for e in validator.iter_errors(doc)]


def test_schema_is_a_valid_draft_2020_12_schema_with_an_id_and_a_description(
    ir_schema: dict[str, Any],
) -> None:
    jsonschema.Draft202012Validator.check_schema(ir_schema)

    assert ir_schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert ir_schema["$id"].endswith("v1")
    assert "dumps" in ir_schema["description"]


def test_schema_enumerates_the_types_kinds_and_operators_of_the_ir(
    ir_schema: dict[str, Any],
) -> None:
    defs = ir_schema["$defs"]

    assert defs["parameterType"]["enum"] == list(PARAMETER_TYPES)
    assert set(defs["group"]["properties"]["kind"]["enum"]) == {
        "condition",
        "parallel_for",
        "loop",
        "exit_handler",
    }
    assert set(defs["condition"]["properties"]["op"]["enum"]) == {*COMPARISON_OPS, *LOGICAL_OPS}


def test_schema_accepts_every_compiled_resource_pipeline(
    resource_pipeline: tuple[str, str], pipeline_of: Any, ir_schema: dict[str, Any]
) -> None:
    doc = json.loads(dumps(pipeline_of(resource_pipeline).spec))

    assert _errors(ir_schema, doc) == []


def test_schema_accepts_every_group_kind_value_reference_and_condition(
    full_spec: PipelineSpec, ir_schema: dict[str, Any]
) -> None:
    assert _errors(ir_schema, json.loads(dumps(full_spec))) == []


def _edit(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
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
_VALUE = {"constant": 1}

BROKEN = {
    "unknown top-level key": _edit("extra", {}),
    "no groups": _edit("groups", _DELETE),
    "major version 2": _edit("ir_version", "2.0"),
    "numeric version": _edit("ir_version", 1.0),
    "unknown parameter type": _edit("pipeline/parameters/threshold/type", "float"),
    "default of the wrong type": _edit("pipeline/parameters/threshold/default", "high"),
    "misspelt parameter key": _edit("pipeline/parameters/threshold/defualt", 1),
    "artifact type without a version": _edit(
        "components/produce/outputs/artifacts/data/type", "conveyor.Dataset"
    ),
    "negative retries": _edit("components/produce/options/retry/max_retries", -1),
    "zero timeout": _edit("tasks/produce/options/timeout_seconds", 0),
    "gpu count as a float": _edit("tasks/produce/options/resources/gpu", 0.5),
    "implementation in another language": _edit(
        "components/produce/implementation", {"java": {"class": "Produce"}}
    ),
    "task without depends_on": _edit("tasks/produce/depends_on", _DELETE),
    "duplicate dependency": _edit("tasks/gather/depends_on", ["consume", "consume"]),
    "reference with two kinds": _edit(
        "tasks/consume/inputs/data", {"constant": 1, "pipeline_parameter": "mode"}
    ),
    "unknown reference kind": _edit("tasks/consume/inputs/data", {"artifact": "rows"}),
    "task_output without output": _edit(
        "tasks/consume/inputs/data", {"task_output": {"task": "produce"}}
    ),
    "run_status with a body": _edit("tasks/notify/inputs/status", {"run_status": {"x": 1}}),
    "unknown group kind": _edit("groups/gate/kind", "switch"),
    "loop without max_iterations": _edit("groups/retrain/max_iterations", _DELETE),
    "loop with max_iterations 0": _edit("groups/retrain/max_iterations", 0),
    "parallel_for without items": _edit("groups/fan/items", _DELETE),
    "condition group without a condition": _edit("groups/gate/condition", _DELETE),
    "exit handler without a task": _edit("groups/exit/handler_task", _DELETE),
    "condition group with items": _edit("groups/gate/items", _VALUE),
    "unknown operator": _edit("groups/gate/condition", {"op": "xor", "args": []}),
    "comparison of three values": _edit(
        "groups/gate/condition", {"op": "==", "args": [_VALUE, _VALUE, _VALUE]}
    ),
    "and of values": _edit("groups/gate/condition", {"op": "and", "args": [_VALUE, _VALUE]}),
    "not of two conditions": _edit(
        "groups/gate/condition",
        {"op": "not", "args": [{"op": "==", "args": [_VALUE, _VALUE]}] * 2},
    ),
}


@pytest.mark.parametrize("mutate", BROKEN.values(), ids=list(BROKEN))
def test_schema_rejects_a_broken_document(
    full_spec: PipelineSpec, ir_schema: dict[str, Any], mutate: Callable[[dict[str, Any]], None]
) -> None:
    doc = json.loads(dumps(full_spec))
    mutate(doc)

    assert _errors(ir_schema, doc) != []
