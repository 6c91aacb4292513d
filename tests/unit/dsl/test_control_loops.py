"""``Loop``: bounded iterations, carried values (warm start) and a stop condition."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest
from control_support import Check, built, definition_error

import conveyor
from conveyor import Dataset, Input, Model, Output, component, pipeline
from conveyor.ir import (
    CollectedRef,
    Condition,
    Constant,
    LoopItemRef,
    PipelineParameterRef,
    TaskOutputRef,
)
from conveyor.ir.spec import LoopCarry, LoopCarryRef


class Fitted(NamedTuple):
    auc: float
    done: bool


@component
def prepare(data: Output[Dataset]) -> None:
    """Make the training data."""


@component
def boost(
    data: Input[Dataset],
    model: Output[Model],
    warm: Input[Model] | None = None,
    rounds: int = 10,
) -> Fitted:
    """Add boosting rounds to the warm-start model."""
    return Fitted(0.9, True)


@component
def strict(warm: Input[Model], model: Output[Model]) -> None:
    """Needs a model in every iteration."""


@component
def refine(previous: float = 0.0, required: float = 0.0) -> float:
    """Refine a number."""
    return previous + 0.1


@component
def needs(value: float) -> None:
    """Needs a value, no default."""


@component
def label(text: str = "") -> str:
    """Take a string."""
    return text


@component
def summarize(model: Input[Model], aucs: list) -> None:
    """After the loop."""


@component
def report(aucs: list) -> None:
    """Collect values."""


def test_warm_start_loop_carries_a_model_and_stops_on_a_condition() -> None:
    @pipeline
    def p(target: float = 0.95) -> None:
        data = prepare().outputs["data"]
        with conveyor.Loop(max_iterations=5, name="boosting") as loop:
            model = loop.carry(name="model")
            best = loop.carry(initial=0.0)
            b = boost(data=data, warm=model)
            r = refine(previous=best)
            model.update(b.outputs["model"])
            best.update(r)
            loop.stop_when((b.outputs["auc"] >= target) | b.outputs["done"])
        summarize(model=b.outputs["model"], aucs=conveyor.Collected(b.outputs["auc"]))

    spec = built(p)
    group = spec.groups["boosting"]
    assert (group.kind, group.max_iterations, group.parent) == ("loop", 5, None)
    assert group.carry == {
        "model": LoopCarry(None, TaskOutputRef("boost", "model")),
        "carry-2": LoopCarry(Constant(0.0), TaskOutputRef("refine", "Output")),
    }
    auc, done = TaskOutputRef("boost", "auc"), TaskOutputRef("boost", "done")
    assert group.until == Condition(
        "or",
        (
            Condition(">=", (auc, PipelineParameterRef("target"))),
            Condition("==", (done, Constant(True))),
        ),
    )
    assert spec.tasks["boost"].inputs["warm"] == LoopCarryRef("boosting", "model")
    # a carried value is no dependency: it would make a cycle
    assert spec.tasks["boost"].depends_on == ("prepare",)
    assert spec.tasks["refine"].depends_on == ()
    # outside the loop an output means the last iteration; Collected means every iteration
    summary = spec.tasks["summarize"]
    assert summary.inputs["model"] == TaskOutputRef("boost", "model")
    assert summary.inputs["aucs"] == CollectedRef("boost", "auc", "boosting")
    assert summary.depends_on == ("boost",)


def test_carry_initial_may_be_a_parameter_or_an_output_from_outside() -> None:
    @pipeline
    def p(start: float = 1.0) -> None:
        seed = refine()
        with conveyor.Loop(max_iterations=2) as loop:
            a = loop.carry(initial=start)
            b = loop.carry(initial=seed.output, name="from-task")
            r = refine(previous=a, required=b)
            a.update(r)
            b.update(r.output)

    carry = built(p).groups["loop-1"].carry
    assert carry["carry-1"].initial == PipelineParameterRef("start")
    assert carry["from-task"].initial == TaskOutputRef("refine", "Output")


def test_condition_inside_a_loop_and_a_loop_inside_a_parallel_for() -> None:
    @pipeline
    def p() -> None:
        with conveyor.ParallelFor(["a", "b"], name="each") as item:
            with conveyor.Loop(max_iterations=3, name="iterate") as loop:
                x = loop.carry(initial=0.0)
                r = refine(previous=x)
                x.update(r)
                with conveyor.If(r.output > 0.5, name="half"):
                    label(text=item)
                with conveyor.If(x < 0.2, name="early"):
                    label(text="early")
            report(aucs=conveyor.Collected(r.output))

    spec = built(p)
    assert spec.groups["iterate"].parent == "each"
    assert spec.groups["half"].parent == "iterate"
    assert spec.tasks["label"].inputs["text"] == LoopItemRef("each")
    assert spec.tasks["label"].group == "half"
    assert spec.groups["early"].condition == Condition(
        "<", (LoopCarryRef("iterate", "carry-1"), Constant(0.2))
    )
    assert spec.tasks["report"].inputs["aucs"] == CollectedRef("refine", "Output", "iterate")
    assert spec.tasks["report"].group == "each"


def test_stop_when_is_optional_and_the_loop_runs_max_iterations() -> None:
    @pipeline
    def p() -> None:
        with conveyor.Loop(max_iterations=3):
            refine()

    group = built(p).groups["loop-1"]
    assert (group.until, group.max_iterations, dict(group.carry)) == (None, 3, {})


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [lambda: conveyor.Loop(), lambda: conveyor.Loop(max_iterations=0), lambda: conveyor.Loop(2.5)],
    ids=["missing", "zero", "float"],
)
def test_unbounded_loop_is_an_error(make: Any) -> None:
    @pipeline
    def p() -> None:
        with make():
            refine()

    error = definition_error(p)
    assert "loops must be bounded" in str(error)
    assert "max_iterations=N" in str(error)


def test_unbounded_loop_points_at_the_users_line(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        with conveyor.Loop():  # line: no-bound
            refine()

    points_at(definition_error(p), "no-bound")


def test_carry_never_updated_is_an_error_at_the_carry_line(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        with conveyor.Loop(max_iterations=3) as loop:
            x = loop.carry(initial=0.0)  # line: carry
            refine(previous=x)

    error = definition_error(p)
    assert "Carried value 'carry-1' of Loop 'loop-1' is never updated" in str(error)
    assert ".update(task.outputs[...])" in str(error)
    points_at(error, "carry")


def test_carry_without_initial_into_a_required_artifact_is_an_error(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        with conveyor.Loop(max_iterations=3) as loop:
            m = loop.carry()
            s = strict(warm=m)  # line: required
            m.update(s.outputs["model"])

    error = definition_error(p)
    message = str(error)
    assert "input 'warm' is required, but carried value 'carry-1'" in message
    assert "has no initial value" in message
    assert "Input[T] | None = None" in message
    points_at(error, "required")


def test_carry_without_initial_into_a_parameter_without_default_is_an_error() -> None:
    @pipeline
    def p() -> None:
        with conveyor.Loop(max_iterations=3) as loop:
            m = loop.carry()
            needs(value=m)
            m.update(refine())

    assert "Make the input optional (a default)" in str(definition_error(p))


def test_carry_whose_next_value_does_not_fit_the_input_is_an_error(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        with conveyor.Loop(max_iterations=3) as loop:
            x = loop.carry(initial="start")
            label(text=x)  # line: bound
            x.update(refine())

    error = definition_error(p)
    message = str(error)
    assert "input 'text' takes carried value 'carry-1' of Loop 'loop-1'" in message
    assert "whose next value is number (output 'Output' of task 'refine'), not string" in message
    points_at(error, "bound")


def test_carry_whose_initial_value_does_not_fit_the_input_is_an_error() -> None:
    @pipeline
    def p() -> None:
        with conveyor.Loop(max_iterations=3) as loop:
            x = loop.carry(initial="start")
            r = refine(previous=x)
            x.update(r)

    assert "whose initial value is 'start', not of type number" in str(definition_error(p))


def test_carry_mixing_an_artifact_and_a_parameter_is_an_error(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        with conveyor.Loop(max_iterations=3) as loop:
            m = loop.carry(initial=0.5)
            b = boost(data=prepare().outputs["data"])
            m.update(b.outputs["model"])  # line: mixed

    error = definition_error(p)
    assert "gives an artifact (output 'model' of task 'boost'), but the initial value" in str(error)
    points_at(error, "mixed")


def test_carry_artifact_of_the_wrong_type_is_an_error() -> None:
    @pipeline
    def p() -> None:
        data = prepare().outputs["data"]
        with conveyor.Loop(max_iterations=3) as loop:
            m = loop.carry(initial=data)
            b = boost(data=data, warm=m)
            m.update(b.outputs["model"])

    assert "whose initial value is conveyor.Dataset@1.0.0" in str(definition_error(p))


def test_carry_used_outside_its_loop_is_an_error() -> None:
    @pipeline
    def p() -> None:
        with conveyor.Loop(max_iterations=3) as loop:
            x = loop.carry(initial=0.0)
            x.update(refine(previous=x))
        refine(previous=x)

    assert "uses carried value 'carry-1' of Loop 'loop-1' outside its `with` block" in str(
        definition_error(p)
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            lambda loop, x, outside: x.update(outside),
            "takes an output of a task inside the loop",
        ),
        (
            lambda loop, x, outside: (x.update(refine()), x.update(refine())),
            "was already called at",
        ),
        (lambda loop, x, outside: x.update(0.5), "takes a task output"),
        (
            lambda loop, x, outside: loop.carry(initial=refine()),
            "a task inside the loop; the initial value feeds iteration 0",
        ),
        (
            lambda loop, x, outside: (loop.stop_when(x > 1), loop.stop_when(x > 2)),
            "stop_when() is called once",
        ),
        (lambda loop, x, outside: loop.stop_when(prepare().outputs["data"]), "is an artifact"),
        (lambda loop, x, outside: loop.carry(initial=object()), "must be a JSON value"),
    ],
    ids=[
        "update-from-outside",
        "update-twice",
        "update-literal",
        "initial-from-inside",
        "stop-twice",
        "stop-on-artifact",
        "initial-not-json",
    ],
)
def test_loop_misuse_is_an_error(body: Any, message: str) -> None:
    @pipeline
    def p() -> None:
        outside = refine()
        with conveyor.Loop(max_iterations=3) as loop:
            x = loop.carry(initial=0.0)
            r = refine(previous=x)
            body(loop, x, outside.output)
            if x.updated_at is None:
                x.update(r)

    assert message in str(definition_error(p))


def test_carry_and_stop_when_after_the_block_are_errors() -> None:
    @pipeline
    def late_carry() -> None:
        with conveyor.Loop(max_iterations=3) as loop:
            refine()
        loop.carry()

    @pipeline
    def late_update() -> None:
        with conveyor.Loop(max_iterations=3) as loop:
            x = loop.carry(initial=0.0)
            r = refine(previous=x)
            x.update(r)
        x.update(r)

    assert "carry() is called inside its `with conveyor.Loop(...) as loop:` block" in str(
        definition_error(late_carry)
    )
    assert "update() is called inside the loop's `with` block" in str(definition_error(late_update))


def test_output_of_a_parallel_for_inside_a_loop_needs_collected_for_update() -> None:
    @pipeline
    def p() -> None:
        with conveyor.Loop(max_iterations=3) as loop:
            x = loop.carry(initial=[])
            with conveyor.ParallelFor([1, 2]):
                r = refine()
            report(aucs=x)
            x.update(r)

    assert "collect it with conveyor.Collected(" in str(definition_error(p))


def test_update_with_collected_over_a_nested_parallel_for() -> None:
    @pipeline
    def p() -> None:
        with conveyor.Loop(max_iterations=3, name="outer") as loop:
            x = loop.carry(initial=[])
            with conveyor.ParallelFor([1, 2], name="fan"):
                r = refine()
            report(aucs=x)
            x.update(conveyor.Collected(r.output))

    assert built(p).groups["outer"].carry["carry-1"] == LoopCarry(
        Constant([]), CollectedRef("refine", "Output", "fan")
    )
