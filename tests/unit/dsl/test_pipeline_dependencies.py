"""Task dependencies come from data (inputs bound to outputs) and from ``.after()``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conveyor import Dataset, Input, Output, component, pipeline
from conveyor.dsl import Task
from conveyor.errors import DefinitionError, PipelineValidationError

Check = Callable[[DefinitionError, str], None]


@component
def make(out: Output[Dataset]) -> int:
    """Produce a data set and a count."""
    return 0


@component
def use(data: Input[Dataset], n: int = 0) -> None:
    """Use a data set and a count."""


@component
def tick() -> None:
    """No inputs, no outputs."""


def test_pipeline_derives_dependencies_from_artifact_and_parameter_inputs() -> None:
    @pipeline
    def p() -> None:
        a = make()
        b = make()
        use(data=a.outputs["out"], n=b.outputs["Output"])

    assert p.spec.tasks["use"].depends_on == ("make", "make-2")
    assert p.spec.tasks["make"].depends_on == ()


def test_pipeline_after_adds_an_ordering_dependency_without_data() -> None:
    @pipeline
    def p() -> None:
        first = tick()
        second = tick()
        third = tick()
        assert third.after(first, second) is third

    assert p.spec.tasks["tick-3"].depends_on == ("tick", "tick-2")
    assert p.spec.tasks["tick-3"].inputs == {}
    assert p.spec.topological_order() == ["tick", "tick-2", "tick-3"]


def test_pipeline_after_and_data_dependencies_are_merged_once() -> None:
    @pipeline
    def p() -> None:
        a = make()
        use(data=a.outputs["out"]).after(a, a)

    assert p.spec.tasks["use"].depends_on == ("make",)


def test_pipeline_rejects_a_cycle_through_after_naming_its_tasks(points_at: Check) -> None:
    @pipeline  # line: cycle
    def p() -> None:
        a = tick()
        b = tick().after(a)
        c = tick().after(b)
        a.after(c)
        tick().after(c)  # downstream of the cycle, not on it

    with pytest.raises(PipelineValidationError) as info:
        _ = p.spec

    message = str(info.value)
    assert "has a dependency cycle through .after() among tasks ['tick', 'tick-2', 'tick-3']" in (
        message
    )
    assert "Remove one of the .after() calls" in message
    points_at(info.value, "cycle")


def test_pipeline_rejects_a_task_after_itself() -> None:
    @pipeline
    def p() -> None:
        t = tick()
        t.after(t)

    with pytest.raises(PipelineValidationError, match=r"among tasks \['tick'\]"):
        _ = p.spec


def test_after_rejects_something_that_is_not_a_task() -> None:
    @pipeline
    def p() -> None:
        tick().after("tick")  # type: ignore[arg-type]

    with pytest.raises(TypeError, match="after\\(\\) takes tasks, got 'tick'"):
        _ = p.spec


def test_after_rejects_a_task_of_another_pipeline() -> None:
    kept: list[Task] = []

    @pipeline
    def first() -> None:
        kept.append(tick())

    @pipeline
    def second() -> None:
        tick().after(kept[0])

    _ = first.spec

    with pytest.raises(DefinitionError, match="belongs to another pipeline"):
        _ = second.spec
