"""``@component`` turns JSON-typed function parameters into typed input parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Optional

import pytest

from conveyor import component
from conveyor.ir import MISSING, ParameterSpec

# One plain function per annotation; each test decorates one (components live at module level).


def _str(x: str) -> None: ...
def _int(x: int) -> None: ...
def _float(x: float) -> None: ...
def _bool(x: bool) -> None: ...
def _list(x: list) -> None: ...  # type: ignore[type-arg]
def _list_of_int(x: list[int]) -> None: ...
def _nested_list(x: list[list[str]]) -> None: ...
def _tuple(x: tuple[int, ...]) -> None: ...
def _dict(x: dict) -> None: ...  # type: ignore[type-arg]
def _dict_of_float(x: dict[str, float]) -> None: ...
def _dict_of_any(x: dict[str, Any]) -> None: ...
def _any(x: Any) -> None: ...
def _int_or_float(x: int | float) -> None: ...
def _int_or_none(x: int | None) -> None: ...
def _optional_int(x: Optional[int]) -> None: ...  # noqa: UP045
def _none_or_int(x: None | int) -> None: ...  # noqa: RUF036


@pytest.mark.parametrize(
    ("func", "json_type"),
    [
        (_str, "string"),
        (_int, "integer"),
        (_float, "number"),
        (_bool, "boolean"),
        (_list, "array"),
        (_list_of_int, "array"),
        (_nested_list, "array"),
        (_tuple, "array"),
        (_dict, "object"),
        (_dict_of_float, "object"),
        (_dict_of_any, "object"),
        (_any, "any"),
        (_int_or_float, "number"),
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_component_maps_each_json_annotation_to_its_type(
    func: Callable[..., None], json_type: str
) -> None:
    assert component(func).spec.input_parameters == {"x": ParameterSpec(type=json_type)}


@pytest.mark.parametrize(
    "func", [_int_or_none, _optional_int, _none_or_int], ids=lambda f: f.__name__
)
def test_component_marks_an_optional_parameter_nullable(func: Callable[..., None]) -> None:
    assert component(func).spec.input_parameters["x"] == ParameterSpec("integer", nullable=True)


@component
def literals(
    mode: Literal["fast", "full"],
    level: Literal[1, 2, 3] = 2,
    ratio: Literal[1, 0.5] = 1,
    maybe: Literal["a"] | None = None,
) -> None:
    """Literal parameters."""


def test_component_records_the_allowed_values_of_a_literal() -> None:
    params = literals.spec.input_parameters

    assert params["mode"] == ParameterSpec("string", enum=("fast", "full"))
    assert params["level"] == ParameterSpec("integer", default=2, enum=(1, 2, 3))
    assert params["ratio"] == ParameterSpec("number", default=1.0, enum=(1, 0.5))
    assert params["maybe"] == ParameterSpec("string", default=None, nullable=True, enum=("a",))


@component
def defaults(
    lr: float = 1,
    sizes: tuple[int, ...] = (1, 2),
    seed: int | None = None,
    tags: list[str] | None = None,
    name: str = "run",
) -> None:
    """Parameters with defaults."""


def test_component_coerces_an_int_default_of_a_float_parameter_to_float() -> None:
    default = defaults.spec.input_parameters["lr"].default

    assert default == 1.0
    assert isinstance(default, float)


def test_component_coerces_a_tuple_default_of_an_array_parameter_to_a_list() -> None:
    assert defaults.spec.input_parameters["sizes"].default == [1, 2]


def test_component_keeps_none_as_the_default_of_a_nullable_parameter() -> None:
    seed = defaults.spec.input_parameters["seed"]

    assert seed.has_default
    assert seed.default is None
    assert defaults.spec.input_parameters["tags"] == ParameterSpec(
        "array", default=None, nullable=True
    )


@component
def required(path: str, *, attempts: int = 0) -> int:
    """A required and a keyword-only parameter."""
    return attempts


def test_component_leaves_a_parameter_without_default_required() -> None:
    params = required.spec.input_parameters

    assert params["path"].default is MISSING
    assert not params["path"].has_default
    assert params["attempts"] == ParameterSpec("integer", default=0)


def test_component_keeps_parameters_apart_from_artifacts_in_signature_order() -> None:
    assert list(required.spec.input_parameters) == ["path", "attempts"]
    assert required.spec.input_artifacts == {}
    assert required.spec.output_artifacts == {}
