"""Inputs are type-checked when the pipeline is built: artifact subtypes, JSON parameter types."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor import Artifact, Dataset, Input, Model, Output, component, pipeline
from conveyor.errors import PipelineValidationError
from conveyor.ir import Constant, TaskOutputRef


class Table(Dataset):
    """A user subtype of Dataset."""

    schema_title = "tests.types.Table"


@component
def export(model: Output[Model]) -> None:
    """Produce a model."""


@component
def make_table(table: Output[Table]) -> None:
    """Produce a user-typed data set."""


@component
def make_data(data: Output[Dataset]) -> None:
    """Produce a plain data set."""


@component
def read(data: Input[Dataset]) -> None:
    """Read a data set."""


@component
def read_table(table: Input[Table]) -> None:
    """Read only tables."""


@component
def read_any(thing: Input[Artifact]) -> None:
    """Read anything."""


@component
def text() -> str:
    """Return text."""
    return ""


@component
def number() -> int:
    """Return an integer."""
    return 0


@component
def maybe_number() -> int | None:
    """Return an integer or nothing."""
    return None


@component
def scale(n: int = 0, factor: float = 1.0, label: str | None = None, blob: Any = None) -> None:
    """Take typed parameters."""


def _error(p: Any) -> str:
    with pytest.raises(PipelineValidationError) as info:
        _ = p.spec
    return str(info.value)


def test_pipeline_rejects_a_model_into_a_dataset_input_naming_both_types_and_the_task() -> None:
    @pipeline
    def p() -> None:
        read(data=export().outputs["model"])

    error = _error(p)

    assert (
        "Task 'read' (read): input 'data' expects conveyor.Dataset@1.0.0, got "
        "conveyor.Model@1.0.0 from task 'export' output 'model'" in error
    )
    assert "Connect a conveyor.Dataset output or change the annotation" in error


def test_pipeline_accepts_a_user_subtype_of_dataset_into_a_dataset_input() -> None:
    @pipeline
    def p() -> None:
        read(data=make_table().outputs["table"])

    assert p.spec.tasks["read"].inputs == {"data": TaskOutputRef("make_table", "table")}


def test_pipeline_rejects_a_plain_dataset_into_a_subtype_input() -> None:
    @pipeline
    def p() -> None:
        read_table(table=make_data().output)

    assert "expects tests.types.Table@1.0.0, got conveyor.Dataset@1.0.0" in _error(p)


def test_pipeline_accepts_any_artifact_into_a_generic_artifact_input() -> None:
    @pipeline
    def p() -> None:
        read_any(thing=export().output)
        read_any(thing=make_table().output)

    assert p.spec.tasks["read_any"].inputs["thing"] == TaskOutputRef("export", "model")
    assert p.spec.tasks["read_any-2"].inputs["thing"] == TaskOutputRef("make_table", "table")


def test_pipeline_rejects_a_string_output_into_an_int_parameter() -> None:
    @pipeline
    def p() -> None:
        scale(n=text().output)

    assert "parameter 'n' expects integer, got string from task 'text' output 'Output'" in _error(p)


def test_pipeline_accepts_an_int_output_into_a_float_parameter() -> None:
    @pipeline
    def p() -> None:
        scale(factor=number())

    assert p.spec.tasks["scale"].inputs == {"factor": TaskOutputRef("number", "Output")}


def test_pipeline_accepts_any_output_into_an_any_parameter() -> None:
    @pipeline
    def p() -> None:
        scale(blob=text())

    assert p.spec.tasks["scale"].inputs["blob"] == TaskOutputRef("text", "Output")


def test_pipeline_coerces_an_int_literal_for_a_float_parameter() -> None:
    @pipeline
    def p() -> None:
        scale(factor=2)

    bound = p.spec.tasks["scale"].inputs["factor"]
    assert bound == Constant(2.0)
    assert isinstance(bound, Constant) and isinstance(bound.value, float)


def test_pipeline_accepts_none_only_for_a_nullable_parameter() -> None:
    @pipeline
    def ok() -> None:
        scale(label=None)

    @pipeline
    def bad() -> None:
        scale(n=None)

    assert ok.spec.tasks["scale"].inputs["label"] == Constant(None)
    assert "parameter 'n' expects integer, got None" in _error(bad)


def test_pipeline_rejects_a_value_that_json_cannot_hold() -> None:
    @pipeline
    def nan() -> None:
        scale(factor=float("nan"))

    @pipeline
    def obj() -> None:
        scale(blob=object())

    assert "parameter 'factor' expects number, got nan" in _error(nan)
    assert "parameter 'blob' expects any" in _error(obj)
