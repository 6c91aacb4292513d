"""A Pipeline object: built lazily once, never called directly, placeholders refuse ``if``."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor import component, pipeline
from conveyor.dsl import Pipeline
from conveyor.errors import DefinitionError


@component
def flag() -> bool:
    """Return a flag."""
    return True


@component
def use(on: bool = False) -> None:
    """Use a flag."""


def test_pipeline_builds_its_spec_once_and_caches_it() -> None:
    calls: list[int] = []

    @pipeline
    def p() -> None:
        calls.append(1)
        use()

    assert isinstance(p, Pipeline)
    assert p.spec is p.spec
    assert calls == [1]


def test_pipeline_records_the_module_it_was_defined_in(load_resource: Any) -> None:
    assert load_resource("simple").simple.spec.module == "simple"


def test_pipeline_cannot_be_called_directly() -> None:
    @pipeline
    def p() -> None:
        use()

    with pytest.raises(DefinitionError, match="is not called directly"):
        p()


def test_pipeline_without_tasks_is_an_error() -> None:
    @pipeline
    def empty() -> None:
        pass

    with pytest.raises(DefinitionError, match="has no tasks: call components inside it"):
        _ = empty.spec


def test_pipeline_parameter_cannot_drive_a_python_if() -> None:
    @pipeline
    def p(on: bool = True) -> None:
        if on:
            use()

    with pytest.raises(DefinitionError, match="cannot drive a Python `if`"):
        _ = p.spec


def test_task_output_cannot_drive_a_python_if() -> None:
    @pipeline
    def p() -> None:
        if flag().output:
            use()

    with pytest.raises(DefinitionError, match="'Output' of task 'flag' has no value"):
        _ = p.spec


def test_pipeline_build_failure_leaves_no_pipeline_open() -> None:
    @pipeline
    def broken() -> None:
        use(on="yes")

    with pytest.raises(DefinitionError):
        _ = broken.spec
    with pytest.raises(DefinitionError, match="called outside a @pipeline function"):
        use()
