"""A component's return value becomes output parameters: ``Output``, or one per NamedTuple field."""

from __future__ import annotations

from typing import NamedTuple

from conveyor import Dataset, Output, component
from conveyor.ir import ArtifactSpec, ParameterSpec


class Scores(NamedTuple):
    """Several return values."""

    accuracy: float
    rounds: int
    notes: list[str] | None


@component
def count() -> int:
    """One return value."""
    return 1


@component
def maybe() -> float | None:
    """An optional return value."""
    return None


@component
def side_effect(x: int) -> None:
    """No return value."""


@component
def unannotated(x: int):  # type: ignore[no-untyped-def]
    """No return annotation."""


@component
def evaluate() -> Scores:
    """A NamedTuple return value."""
    return Scores(0.9, 3, None)


@component
def ingest(path: str, data: Output[Dataset]) -> int:
    """An artifact and a return value."""
    return 0


def test_component_names_a_single_return_value_output() -> None:
    assert count.spec.output_parameters == {"Output": ParameterSpec("integer")}


def test_component_marks_an_optional_return_value_nullable() -> None:
    assert maybe.spec.output_parameters == {"Output": ParameterSpec("number", nullable=True)}


def test_component_has_no_output_parameter_when_it_returns_none() -> None:
    assert side_effect.spec.output_parameters == {}
    assert unannotated.spec.output_parameters == {}


def test_component_turns_namedtuple_fields_into_output_parameters_in_order() -> None:
    # This module uses ``from __future__ import annotations``: the fields are strings until
    # they are resolved, which must still work.
    outputs = evaluate.spec.output_parameters

    assert list(outputs) == ["accuracy", "rounds", "notes"]
    assert outputs["accuracy"] == ParameterSpec("number")
    assert outputs["rounds"] == ParameterSpec("integer")
    assert outputs["notes"] == ParameterSpec("array", nullable=True)


def test_component_has_both_artifact_outputs_and_a_return_value() -> None:
    assert ingest.spec.output_artifacts == {"data": ArtifactSpec("conveyor.Dataset@1.0.0")}
    assert ingest.spec.output_parameters == {"Output": ParameterSpec("integer")}
