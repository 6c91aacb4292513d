"""Wrong wiring raises PipelineValidationError when the pipeline is built, at the user's line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import pytest

from conveyor import Dataset, Input, Model, Output, component, pipeline
from conveyor.dsl import OutputRef
from conveyor.errors import DefinitionError, PipelineValidationError

Check = Callable[[DefinitionError, str], None]


@component
def make(out: Output[Dataset]) -> None:
    """Produce a data set."""


@component
def train(data: Input[Dataset], model: Output[Model], epochs: int, lr: float = 0.1) -> float:
    """Train a model."""
    return 0.0


@component
def split(data: Input[Dataset], train: Output[Dataset], eval: Output[Dataset]) -> None:
    """Two artifact outputs and no return value."""


@component
def choose(mode: Literal["fast", "full"] = "fast") -> None:
    """Take a literal."""


@component(name="dup")
def dup_one() -> None:
    """First component named dup."""


@component(name="dup")
def dup_two() -> None:
    """Second component named dup."""


def _plain(x: int = 0) -> None:
    """One function wrapped twice."""


wrapped_plain = component(_plain)
wrapped_retrying = component(retries=3)(_plain)


def _build_error(p: object) -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        _ = p.spec  # type: ignore[attr-defined]
    return info.value


def test_pipeline_rejects_an_unknown_input_suggesting_the_closest_name(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        train(dat=make().output, epochs=1)  # line: unknown-input

    error = _build_error(p)

    assert isinstance(error, PipelineValidationError)
    assert "Task 'train' (train): unknown input 'dat'" in str(error)
    assert "its inputs are ['data', 'epochs', 'lr']" in str(error)
    assert "Did you mean 'data'?" in str(error)
    points_at(error, "unknown-input")


def test_pipeline_rejects_an_unknown_input_without_a_suggestion_when_nothing_is_close() -> None:
    @pipeline
    def p() -> None:
        train(data=make().output, epochs=1, zzzz=1)

    error = _build_error(p)

    assert "unknown input 'zzzz'" in str(error)
    assert "Did you mean" not in str(error)


def test_pipeline_rejects_a_missing_required_parameter(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        train(data=make().output)  # line: missing-param

    error = _build_error(p)

    assert "Task 'train' (train): missing required parameter 'epochs' (integer)" in str(error)
    assert "Pass epochs=..." in str(error)
    points_at(error, "missing-param")


def test_pipeline_rejects_a_missing_required_artifact_input(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        train(epochs=1)  # line: missing-input

    error = _build_error(p)

    assert "missing required input 'data' (conveyor.Dataset@1.0.0)" in str(error)
    assert "data=other_task.outputs['...']" in str(error)
    points_at(error, "missing-input")


def test_pipeline_rejects_a_literal_of_the_wrong_type(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        train(data=make().output, epochs="ten")  # line: wrong-literal

    error = _build_error(p)

    assert "parameter 'epochs' expects integer, got 'ten'" in str(error)
    points_at(error, "wrong-literal")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, "parameter 'epochs' expects integer, got 1.5"),
        (True, "parameter 'epochs' expects integer, got True"),
        (None, "parameter 'epochs' expects integer, got None"),
    ],
)
def test_pipeline_rejects_a_value_that_is_not_of_the_parameter_type(
    value: object, message: str
) -> None:
    @pipeline
    def p() -> None:
        train(data=make().output, epochs=value)

    assert message in str(_build_error(p))


def test_pipeline_rejects_a_value_outside_the_allowed_literal_values() -> None:
    @pipeline
    def p() -> None:
        choose(mode="slow")

    assert "parameter 'mode' must be one of ['fast', 'full'], got 'slow'" in str(_build_error(p))


def test_pipeline_rejects_passing_an_output_artifact_name(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        train(data=make().output, epochs=1, model="model.pkl")  # line: output-name

    error = _build_error(p)

    assert "'model' is an output of 'train'; the task creates it, do not pass it" in str(error)
    assert "task.outputs['model']" in str(error)
    points_at(error, "output-name")


def test_pipeline_rejects_a_constant_for_an_artifact_input() -> None:
    @pipeline
    def p() -> None:
        train(data="rows.csv", epochs=1)

    error = str(_build_error(p))

    assert (
        "input 'data' expects an artifact (conveyor.Dataset@1.0.0) from an upstream task" in error
    )
    assert "other_task.outputs['NAME']" in error


def test_pipeline_rejects_an_artifact_for_a_parameter() -> None:
    @pipeline
    def p() -> None:
        d = make()
        train(data=d.output, epochs=d.outputs["out"])

    error = str(_build_error(p))

    assert "parameter 'epochs' (integer) is bound to artifact 'out' of task 'make'" in error


def test_pipeline_rejects_a_parameter_output_for_an_artifact_input() -> None:
    @pipeline
    def p() -> None:
        t = train(data=make().output, epochs=1)
        train(data=t.outputs["Output"], epochs=1)

    error = str(_build_error(p))

    assert "input 'data' expects conveyor.Dataset@1.0.0, got parameter 'Output' (number)" in error


def test_pipeline_rejects_a_task_with_several_outputs_where_one_is_needed() -> None:
    @pipeline
    def p() -> None:
        parts = split(data=make())
        train(data=parts, epochs=1)

    error = str(_build_error(p))

    assert "input 'data' got task 'split', which has 2 outputs ['eval', 'train']" in error
    assert "split.outputs['NAME']" in error


def test_pipeline_rejects_an_output_of_another_pipeline() -> None:
    kept: list[OutputRef] = []

    @pipeline
    def first() -> None:
        kept.append(make().output)

    @pipeline
    def second() -> None:
        make()
        train(data=kept[0], epochs=1)

    _ = first.spec

    assert "belongs to another pipeline" in str(_build_error(second))


def test_component_called_outside_a_pipeline_raises_at_the_call(points_at: Check) -> None:
    with pytest.raises(DefinitionError) as info:
        make()  # line: outside

    assert "Component 'make' was called outside a @pipeline function" in str(info.value)
    assert "make.python_func(...)" in str(info.value)
    points_at(info.value, "outside")


def test_component_called_with_positional_arguments_raises(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        choose("fast")  # line: positional

    error = _build_error(p)

    assert "Component 'choose' takes its inputs by keyword, got 1 positional" in str(error)
    points_at(error, "positional")


def test_pipeline_rejects_two_different_components_with_the_same_name(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        dup_one()
        dup_two()  # line: same-name

    error = _build_error(p)

    assert "Two different components are named 'dup'" in str(error)
    assert "dup_one and " in str(error) and "dup_two)" in str(error)
    assert "@component(name=...)" in str(error)
    points_at(error, "same-name")


def test_pipeline_rejects_one_function_wrapped_twice_with_different_options() -> None:
    @pipeline
    def p() -> None:
        wrapped_plain()
        wrapped_retrying()

    assert "wrapped twice with different options" in str(_build_error(p))


def test_pipeline_accepts_the_same_component_called_twice() -> None:
    @pipeline
    def p() -> None:
        make()
        make()

    assert list(p.spec.components) == ["make"]
