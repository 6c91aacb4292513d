"""A component's check_params refuses bad literal parameters when the pipeline is built, at
the user's line; values bound to pipeline parameters are left to run time."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from conveyor import component, pipeline
from conveyor.errors import DefinitionError, PipelineValidationError

Check = Callable[[DefinitionError, str], None]
SEEN: list[dict[str, Any]] = []


def _no_slash(params: Mapping[str, Any]) -> None:
    SEEN.append(dict(params))
    if "/" in params.get("name", ""):
        raise ValueError(f"name {params['name']!r} may not contain '/'")


@component(check_params=_no_slash)
def publish(name: str, retries: int = 2) -> None:
    """Publish under a name."""


def _build_error(p: Any) -> PipelineValidationError:
    with pytest.raises(PipelineValidationError) as info:
        _ = p.spec
    return info.value


def test_check_params_refuses_a_literal_at_the_callers_line(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        publish(name="a/b")  # line: bad-name

    error = _build_error(p)

    assert "Task 'publish' (publish): name 'a/b' may not contain '/'" in str(error)
    points_at(error, "bad-name")


def test_check_params_sees_literals_and_defaults_but_not_pipeline_parameters() -> None:
    @pipeline
    def good() -> None:
        publish(name="census")

    @pipeline
    def bound(name: str = "x/y") -> None:
        publish(name=name)

    SEEN.clear()
    _ = good.spec
    _ = bound.spec

    assert SEEN == [{"name": "census", "retries": 2}, {"retries": 2}]
