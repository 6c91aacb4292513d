"""Static fan-in: a list of outputs feeds an ``Input[list[T]]`` or a list parameter as a ListRef."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor import Dataset, Input, Model, Output, component, pipeline
from conveyor.errors import PipelineValidationError
from conveyor.ir import Constant, ListRef, PipelineParameterRef, TaskOutputRef


@component
def make(out: Output[Dataset]) -> int:
    """Produce a data set."""
    return 0


@component
def export(model: Output[Model]) -> None:
    """Produce a model."""


@component
def merge(parts: Input[list[Dataset]]) -> None:
    """Fan in data sets."""


@component
def single(data: Input[Dataset]) -> None:
    """Take one data set."""


@component
def total(values: list[int], n: int = 0) -> None:
    """Take a list parameter."""


def test_fanin_binds_a_list_of_artifact_outputs_in_order(load_resource: Any) -> None:
    spec = load_resource("fanin").fanin.spec

    join = spec.tasks["join"]
    assert join.inputs["parts"] == ListRef(
        tuple(TaskOutputRef(t, "out") for t in ("work", "work-2", "work-3"))
    )
    assert join.depends_on == ("work", "work-2", "work-3")


def test_fanin_binds_a_mixed_list_into_a_list_parameter(load_resource: Any) -> None:
    spec = load_resource("fanin").fanin.spec

    assert spec.tasks["join"].inputs["counts"] == ListRef(
        (TaskOutputRef("work", "Output"), PipelineParameterRef("width"), Constant(7))
    )


def test_fanin_accepts_tasks_and_tuples() -> None:
    @pipeline
    def p() -> None:
        a, b = make(), make()
        merge(parts=(a.outputs["out"], b.outputs["out"]))
        total(values=[a, b])

    assert p.spec.tasks["merge"].inputs["parts"] == ListRef(
        (TaskOutputRef("make", "out"), TaskOutputRef("make-2", "out"))
    )
    assert p.spec.tasks["total"].inputs["values"] == ListRef(
        (TaskOutputRef("make", "Output"), TaskOutputRef("make-2", "Output"))
    )


def test_fanin_keeps_a_list_of_constants_a_constant() -> None:
    @pipeline
    def p() -> None:
        total(values=[1, 2, 3])

    assert p.spec.tasks["total"].inputs["values"] == Constant([1, 2, 3])


def _error(p: Any) -> str:
    with pytest.raises(PipelineValidationError) as info:
        _ = p.spec
    return str(info.value)


def test_fanin_rejects_an_item_of_the_wrong_artifact_type() -> None:
    @pipeline
    def p() -> None:
        merge(parts=[make().outputs["out"], export().output])

    assert "input 'parts' expects conveyor.Dataset@1.0.0, got conveyor.Model@1.0.0" in _error(p)


def test_fanin_rejects_a_single_output_for_a_list_input() -> None:
    @pipeline
    def p() -> None:
        merge(parts=make().outputs["out"])

    assert "input 'parts' takes a list of conveyor.Dataset@1.0.0 artifacts (fan-in)" in _error(p)


def test_fanin_rejects_a_list_for_a_single_artifact_input() -> None:
    @pipeline
    def p() -> None:
        single(data=[make().outputs["out"]])

    error = _error(p)
    assert "input 'data' takes one conveyor.Dataset@1.0.0 artifact, got a list" in error
    assert "Input[list[...]]" in error


def test_fanin_rejects_a_list_of_outputs_for_a_scalar_parameter() -> None:
    @pipeline
    def p() -> None:
        total(values=[], n=[make()])

    assert "parameter 'n' expects integer, got a list" in _error(p)
