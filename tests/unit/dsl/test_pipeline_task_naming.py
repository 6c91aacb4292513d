"""Tasks are named after their component: name, name-2, name-3, ..."""

from __future__ import annotations

from conveyor import component, pipeline


@component
def step(i: int = 0) -> int:
    """A step."""
    return i


@component(name="step-2")
def tricky() -> None:
    """A component whose name looks like a generated task name."""


def test_pipeline_names_tasks_after_their_component_numbering_repeats() -> None:
    @pipeline
    def p() -> None:
        for i in range(3):
            step(i=i)

    assert list(p.spec.tasks) == ["step", "step-2", "step-3"]
    assert {t.component for t in p.spec.tasks.values()} == {"step"}
    assert list(p.spec.components) == ["step"]


def test_pipeline_skips_a_task_name_already_taken() -> None:
    @pipeline
    def p() -> None:
        tricky()
        step()
        step()

    assert sorted(p.spec.tasks) == ["step", "step-2", "step-3"]
    assert p.spec.tasks["step-2"].component == "step-2"
    assert p.spec.tasks["step"].component == "step"
    assert p.spec.tasks["step-3"].component == "step"


def test_pipeline_task_display_name_does_not_change_its_name() -> None:
    @pipeline
    def p() -> None:
        step().set_display_name("First step")

    assert p.spec.tasks["step"].display_name == "First step"


def test_pipeline_name_defaults_to_the_function_name_with_dashes() -> None:
    @pipeline
    def train_and_eval() -> None:
        """Train, then evaluate.

        More details.
        """
        step()

    @pipeline(name="custom", description="Set explicitly.")
    def other() -> None:
        step()

    assert (train_and_eval.name, train_and_eval.spec.name) == ("train-and-eval", "train-and-eval")
    assert train_and_eval.spec.description == "Train, then evaluate."
    assert (other.spec.name, other.spec.description) == ("custom", "Set explicitly.")
