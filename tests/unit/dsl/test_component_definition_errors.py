"""A wrong component definition raises DefinitionError at the user's line, saying how to fix it.

The functions below are plain (undecorated) module-level functions; each test decorates one.
``# line: NAME`` marks the line the error must point at.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import pytest

from conveyor import Dataset, Input, Model, Output, component
from conveyor.errors import DefinitionError

Check = Callable[[DefinitionError, str], None]


def no_annotation(x, y: int = 0) -> None:  # type: ignore[no-untyped-def]  # line: no-annotation
    """x has no annotation."""


def star_args(*args: int) -> None:  # line: star-args
    """Variadic positional."""


def star_kwargs(**kwargs: int) -> None:  # line: star-kwargs
    """Variadic keywords."""


def positional_only(x: int, /) -> None:  # line: positional-only
    """Cannot be bound by keyword."""


class Frame:
    """Not JSON."""


def not_json(frame: Frame) -> None:  # line: not-json
    """A Python object as a parameter."""


def list_of_artifacts_as_parameter(parts: list[Dataset]) -> None:  # line: list-param
    """A list of artifacts without Input[...]."""


def bad_default(n: int = "3") -> None:  # type: ignore[assignment]  # line: bad-default
    """A default of the wrong type."""


def bool_default(n: int = True) -> None:  # line: bool-default
    """A bool is not an integer here."""


def literal_default(mode: Literal["a", "b"] = "c") -> None:  # type: ignore[assignment]  # line: literal-default
    """A default outside the allowed values."""


def not_an_artifact(x: Input[int]) -> None:  # line: not-an-artifact
    """Input[] of a non-artifact type."""


def output_not_an_artifact(x: Output[str]) -> None:  # line: output-not-an-artifact
    """Output[] of a non-artifact type."""


def list_output(parts: Output[list[Dataset]]) -> None:  # line: list-output
    """An output cannot be a list."""


def artifact_default(data: Input[Dataset] = "rows.csv") -> None:  # type: ignore[assignment]  # line: artifact-default
    """An artifact defaulting to something other than None."""


class Clash(NamedTuple):
    """Outputs named like inputs."""

    data: int


def name_clash(data: Input[Dataset]) -> Clash:  # line: name-clash
    """The output 'data' clashes with the input 'data'."""
    return Clash(1)


def output_clash(Output: int) -> int:  # line: output-clash
    """The return value 'Output' clashes with the parameter 'Output'."""
    return Output


def bad_return() -> Frame:  # line: bad-return
    """A return type that is not JSON."""
    return Frame()


class NotJsonFields(NamedTuple):
    """A NamedTuple with a non-JSON field."""

    frame: Frame


def bad_field() -> NotJsonFields:  # line: bad-field
    """A NamedTuple output that is not JSON."""
    return NotJsonFields(Frame())


def unresolvable(x: Nope) -> None:  # type: ignore[name-defined]  # noqa: F821  # line: unresolvable
    """An annotation naming nothing."""


def fine(x: int = 0) -> None:  # line: fine
    """A valid signature, to test options."""


DEFINITION_ERRORS: dict[str, tuple[Callable[..., Any], list[str]]] = {
    "no-annotation": (
        no_annotation,
        ["Component 'no_annotation'", "parameter 'x' has no type annotation", "Annotate it"],
    ),
    "star-args": (star_args, ["*args/**kwargs are not allowed", "explicit keyword"]),
    "star-kwargs": (star_kwargs, ["*args/**kwargs are not allowed"]),
    "positional-only": (positional_only, ["'x' is positional-only", "Remove the '/'"]),
    "not-json": (
        not_json,
        ["parameter 'frame'", "not JSON-serialisable", "Input[Dataset]", "Output[Dataset]"],
    ),
    "list-param": (list_of_artifacts_as_parameter, ["'parts'", "Input[list[Dataset]]"]),
    "bad-default": (bad_default, ["default '3' of parameter 'n' is not a valid integer"]),
    "bool-default": (bool_default, ["default True of parameter 'n' is not a valid integer"]),
    "literal-default": (
        literal_default,
        ["default 'c' of parameter 'mode' is not one of its allowed values ['a', 'b']"],
    ),
    "not-an-artifact": (
        not_an_artifact,
        ["'x' is Input[<class 'int'>]", "not an artifact type", "subclass of Artifact"],
    ),
    "output-not-an-artifact": (output_not_an_artifact, ["'x' is Output[", "not an artifact"]),
    "list-output": (list_output, ["output 'parts' cannot be a list"]),
    "artifact-default": (
        artifact_default,
        ["artifact 'data' has the default 'rows.csv'", "can only default to None"],
    ),
    "name-clash": (name_clash, ["output name(s) ['data'] clash with inputs"]),
    "output-clash": (output_clash, ["output name(s) ['Output'] clash with inputs"]),
    "bad-return": (bad_return, ["return type", "is not JSON-serialisable", "Output[...]"]),
    "bad-field": (bad_field, ["output 'frame' type", "is not JSON"]),
    "unresolvable": (unresolvable, ["cannot resolve its type annotations", "Nope"]),
}


@pytest.mark.parametrize(
    ("func", "fragments"), DEFINITION_ERRORS.values(), ids=list(DEFINITION_ERRORS)
)
def test_component_rejects_a_wrong_signature_at_the_users_line(
    func: Callable[..., Any], fragments: list[str], points_at: Check
) -> None:
    with pytest.raises(DefinitionError) as info:
        component(func)

    for fragment in fragments:
        assert fragment in str(info.value)
    marker = next(k for k, v in DEFINITION_ERRORS.items() if v[0] is func)
    points_at(info.value, marker)


OPTION_ERRORS: dict[str, tuple[dict[str, Any], str]] = {
    "negative retries": ({"retries": -1}, "retries must be >= 0, got -1"),
    "zero timeout": ({"timeout": 0}, "timeout must be > 0 seconds, got 0"),
    "negative timeout": ({"timeout": -5.0}, "timeout must be > 0 seconds, got -5.0"),
    "negative backoff": ({"retry_backoff_seconds": -1}, "retry backoff seconds must be >= 0"),
    "shrinking backoff": ({"retry_backoff_factor": 0.5}, "retry_backoff_factor must be >= 1"),
    "zero cpu": ({"cpu": 0}, "cpu must be > 0, got 0"),
    "negative gpu": ({"gpu": -1}, "gpu must be >= 0, got -1"),
}


@pytest.mark.parametrize(("options", "message"), OPTION_ERRORS.values(), ids=list(OPTION_ERRORS))
def test_component_rejects_a_wrong_option_at_the_users_line(
    options: dict[str, Any], message: str, points_at: Check
) -> None:
    with pytest.raises(DefinitionError) as info:
        component(**options)(fine)

    assert f"Component 'fine': {message}" in str(info.value)
    points_at(info.value, "fine")


def test_component_rejects_a_function_defined_inside_another(points_at: Check) -> None:
    with pytest.raises(DefinitionError) as info:

        @component  # line: local
        def local(x: int) -> None:
            """Workers could not import it."""

    assert "defined inside a function" in str(info.value)
    assert "module level" in str(info.value)
    points_at(info.value, "local")


def test_component_rejects_something_that_is_not_a_function() -> None:
    with pytest.raises(TypeError, match="@component decorates a function"):
        component(Model)  # type: ignore[arg-type]
