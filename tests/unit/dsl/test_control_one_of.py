"""``OneOf``: fan-in after ``If``/``Else``, the first value whose task was not skipped."""

from __future__ import annotations

from typing import Any

import pytest
from control_support import built, definition_error

import conveyor
from conveyor import Dataset, Input, Model, Output, component, pipeline
from conveyor.ir import Constant, PipelineParameterRef, TaskOutputRef
from conveyor.ir.spec import OneOfRef


@component
def check() -> bool:
    """Decide a branch."""
    return True


@component
def big(out: Output[Dataset]) -> int:
    """One branch."""
    return 2


@component
def small(out: Output[Dataset]) -> int:
    """The other branch."""
    return 1


@component
def trained(model: Output[Model]) -> str:
    """Makes a model."""
    return "m"


@component
def use(data: Input[Dataset], size: int = 0) -> None:
    """Take one data set and a size."""


@component
def merge(parts: Input[list[Dataset]]) -> None:
    """Take many data sets."""


def test_one_of_fans_in_artifacts_and_parameters_of_both_branches() -> None:
    @pipeline
    def p(fallback: int = 0) -> None:
        with conveyor.If(check().output):
            b = big()
        with conveyor.Else():
            s = small()
        use(
            data=conveyor.OneOf(b.outputs["out"], s.outputs["out"]),
            size=conveyor.OneOf(b.output, s.output, fallback, 5),
        )

    task = built(p).tasks["use"]
    assert task.inputs["data"] == OneOfRef(
        (TaskOutputRef("big", "out"), TaskOutputRef("small", "out"))
    )
    assert task.inputs["size"] == OneOfRef(
        (
            TaskOutputRef("big", "Output"),
            TaskOutputRef("small", "Output"),
            PipelineParameterRef("fallback"),
            Constant(5),
        )
    )
    assert task.depends_on == ("big", "small")
    assert task.group is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            lambda b, t: conveyor.OneOf(b.outputs["out"], t.outputs["model"]),
            "input 'data' expects conveyor.Dataset@1.0.0, got conveyor.Model@1.0.0",
        ),
        (
            lambda b, t: conveyor.OneOf(b.outputs["out"], b.output),
            "input 'data' expects conveyor.Dataset@1.0.0, got parameter 'Output'",
        ),
    ],
    ids=["wrong-artifact-type", "parameter-for-artifact"],
)
def test_one_of_items_must_all_fit_the_input(value: Any, message: str) -> None:
    @pipeline
    def p() -> None:
        use(data=value(big(), trained()))

    assert message in str(definition_error(p))


def test_one_of_a_parameter_of_the_wrong_type_is_an_error() -> None:
    @pipeline
    def p() -> None:
        use(data=big().outputs["out"], size=conveyor.OneOf(big().output, trained().output))

    assert "parameter 'size' expects integer, got string from task 'trained'" in str(
        definition_error(p)
    )


def test_one_of_into_a_list_input_and_with_one_value_are_errors() -> None:
    @pipeline
    def listed() -> None:
        merge(parts=conveyor.OneOf(big().outputs["out"], small().outputs["out"]))

    @pipeline
    def single() -> None:
        use(data=conveyor.OneOf(big().outputs["out"]))

    assert "conveyor.OneOf(...) gives one" in str(definition_error(listed))
    assert "picks among two or more values" in str(definition_error(single))


def test_one_of_outputs_of_a_parallel_for_still_need_collected() -> None:
    @pipeline
    def p() -> None:
        with conveyor.ParallelFor([1, 2]):
            b = big()
        use(data=conveyor.OneOf(b.outputs["out"], small().outputs["out"]))

    assert "collect it with conveyor.Collected(" in str(definition_error(p))
