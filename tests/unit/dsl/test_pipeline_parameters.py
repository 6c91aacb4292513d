"""A pipeline's function parameters are its typed parameters (annotated or inferred)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import pytest

from conveyor import component, pipeline
from conveyor.errors import DefinitionError, PipelineValidationError
from conveyor.ir import MISSING, Constant, ParameterSpec, PipelineParameterRef

Check = Callable[[DefinitionError, str], None]


@component
def use(n: int = 0, lr: float = 0.1, text: str = "", flags: list[str] | None = None) -> None:
    """Take a few parameters."""


def test_pipeline_types_its_annotated_parameters_and_coerces_defaults() -> None:
    @pipeline
    def p(path: str, lr: float = 1, seed: int | None = None, tags: list[str] | None = None) -> None:
        use(lr=lr)

    params = p.spec.parameters
    assert params["path"] == ParameterSpec("string")
    assert params["path"].default is MISSING
    assert params["lr"] == ParameterSpec("number", default=1.0)
    assert isinstance(params["lr"].default, float)
    assert params["seed"] == ParameterSpec("integer", default=None, nullable=True)
    assert params["tags"] == ParameterSpec("array", default=None, nullable=True)


def test_pipeline_infers_the_type_of_an_unannotated_parameter_from_its_default() -> None:
    @pipeline
    def p(n=3, lr=0.5, flag=True, name="x", sizes=[1, 2], opts={"a": 1}):  # type: ignore[no-untyped-def]  # noqa: B006
        use(n=n)

    types = {k: v.type for k, v in p.spec.parameters.items()}
    assert types == {
        "n": "integer",
        "lr": "number",
        "flag": "boolean",
        "name": "string",
        "sizes": "array",
        "opts": "object",
    }


def test_pipeline_records_the_allowed_values_of_a_literal_parameter() -> None:
    @pipeline
    def p(mode: Literal["fast", "full"] = "fast") -> None:
        use(text=mode)

    assert p.spec.parameters["mode"] == ParameterSpec(
        "string", default="fast", enum=("fast", "full")
    )


def test_pipeline_binds_a_parameter_passed_to_a_component_by_reference() -> None:
    @pipeline
    def p(lr: float = 0.1) -> None:
        use(lr=lr, n=2)

    assert p.spec.tasks["use"].inputs == {"lr": PipelineParameterRef("lr"), "n": Constant(2)}


def test_pipeline_passes_an_int_parameter_into_a_float_input() -> None:
    @pipeline
    def p(n: int = 1) -> None:
        use(lr=n)

    assert p.spec.tasks["use"].inputs["lr"] == PipelineParameterRef("n")


def test_pipeline_rejects_a_parameter_of_the_wrong_type_for_an_input(points_at: Check) -> None:
    @pipeline
    def p(text: str = "3") -> None:
        use(n=text)  # line: wrong-param-type

    with pytest.raises(PipelineValidationError) as info:
        _ = p.spec

    assert (
        "Task 'use' (use): parameter 'n' expects integer, got pipeline parameter 'text' of type "
        "string" in str(info.value)
    )
    points_at(info.value, "wrong-param-type")


def test_pipeline_rejects_a_parameter_without_type_or_default(points_at: Check) -> None:
    @pipeline  # line: missing-type
    def p(n, m=None):  # type: ignore[no-untyped-def]
        use(n=n)

    with pytest.raises(DefinitionError) as info:
        _ = p.spec

    assert "Pipeline 'p': parameter 'n' needs a JSON type annotation" in str(info.value)
    points_at(info.value, "missing-type")


def test_pipeline_rejects_a_parameter_defaulting_to_none_without_a_type() -> None:
    @pipeline
    def p(m=None):  # type: ignore[no-untyped-def]
        use()

    with pytest.raises(DefinitionError, match="parameter 'm' needs a JSON type annotation"):
        _ = p.spec


def test_pipeline_rejects_a_default_of_the_wrong_type() -> None:
    @pipeline
    def p(n: int = "three") -> None:  # type: ignore[assignment]
        use(n=n)

    with pytest.raises(DefinitionError, match="Pipeline 'p': default 'three' of 'n' is not a"):
        _ = p.spec


def test_pipeline_rejects_a_default_outside_the_allowed_literal_values() -> None:
    @pipeline
    def p(mode: Literal["fast", "full"] = "slow") -> None:  # type: ignore[assignment]
        use(text=mode)

    with pytest.raises(DefinitionError) as info:
        _ = p.spec

    assert "default 'slow' of 'mode' is not one of ['fast', 'full']" in str(info.value)


def test_pipeline_rejects_variadic_parameters() -> None:
    @pipeline
    def p(*args: int) -> None:
        use()

    with pytest.raises(DefinitionError, match=r"\*args/\*\*kwargs are not allowed"):
        _ = p.spec
