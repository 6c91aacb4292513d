"""``If``/``Elif``/``Else``: comparisons of run-time values build condition groups."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest
from control_support import Check, built, definition_error

import conveyor
from conveyor import Dataset, Output, component, pipeline
from conveyor.dsl import ConditionExpr
from conveyor.errors import DefinitionError
from conveyor.ir import (
    Condition,
    Constant,
    ListRef,
    PipelineParameterRef,
    TaskOutputRef,
)


class Scored(NamedTuple):
    score: float
    passed: bool
    label: str


@component
def evaluate(data: Output[Dataset]) -> Scored:
    """Score a model; also write a data set."""
    return Scored(0.9, True, "a")


@component
def count() -> int:
    """Count something."""
    return 3


@component
def act(level: str = "") -> str:
    """Do something."""
    return level


SCORE = TaskOutputRef("evaluate", "score")


def test_if_builds_a_condition_group_holding_the_tasks_inside() -> None:
    @pipeline
    def p() -> None:
        e = evaluate()
        with conveyor.If(e.outputs["score"] > 0.8):
            act(level="ship")
        act(level="always")

    spec = built(p)

    assert spec.groups["condition-1"].kind == "condition"
    assert spec.groups["condition-1"].parent is None
    assert spec.groups["condition-1"].condition == Condition(">", (SCORE, Constant(0.8)))
    assert spec.tasks["act"].group == "condition-1"
    assert spec.tasks["act-2"].group is None
    # the condition's producer is the engine's business, not a dependency of the tasks inside
    assert spec.tasks["act"].depends_on == ()


@pytest.mark.parametrize(
    ("build", "op", "right"),
    [
        (lambda s: s == 1, "==", Constant(1)),
        (lambda s: s != 1, "!=", Constant(1)),
        (lambda s: s < 1, "<", Constant(1)),
        (lambda s: s <= 1, "<=", Constant(1)),
        (lambda s: s > 1, ">", Constant(1)),
        (lambda s: s >= 1, ">=", Constant(1)),
        (lambda s: 1 < s, ">", Constant(1)),  # noqa: SIM300 - reflected: Python asks the output
        (lambda s: s.is_in((0.5, 1)), "in", Constant([0.5, 1])),
        (lambda s: s.not_in([0.5]), "not in", Constant([0.5])),
    ],
    ids=["eq", "ne", "lt", "le", "gt", "ge", "reflected", "in", "not-in"],
)
def test_comparison_operators_map_to_condition_ops(build: Any, op: str, right: Any) -> None:
    @pipeline
    def p() -> None:
        with conveyor.If(build(evaluate().outputs["score"])):
            act()

    assert built(p).groups["condition-1"].condition == Condition(op, (SCORE, right))


def test_conditions_combine_with_and_or_not_flattening_chains() -> None:
    @pipeline
    def p(mode: str = "a", bar: float = 0.5) -> None:
        s = evaluate().outputs["score"]
        with conveyor.If((s > bar) & (mode != "off") & ~(s == 0.7) | (mode == "force")):
            act()

    cond = built(p).groups["condition-1"].condition
    mode = PipelineParameterRef("mode")
    assert cond == Condition(
        "or",
        (
            Condition(
                "and",
                (
                    Condition(">", (SCORE, PipelineParameterRef("bar"))),
                    Condition("!=", (mode, Constant("off"))),
                    Condition("not", (Condition("==", (SCORE, Constant(0.7))),)),
                ),
            ),
            Condition("==", (mode, Constant("force"))),
        ),
    )


def test_boolean_values_combine_with_conditions_as_equal_to_true() -> None:
    @pipeline
    def p(on: bool = True) -> None:
        e = evaluate()
        with conveyor.If((e.outputs["score"] > 0.5) | on):
            act()
        with conveyor.If(e.outputs["passed"] & ~on):
            act()

    groups = built(p).groups
    on_true = Condition("==", (PipelineParameterRef("on"), Constant(True)))
    passed_true = Condition("==", (TaskOutputRef("evaluate", "passed"), Constant(True)))
    assert groups["condition-1"].condition == Condition(
        "or", (Condition(">", (SCORE, Constant(0.5))), on_true)
    )
    assert groups["condition-2"].condition == Condition(
        "and", (passed_true, Condition("not", (on_true,)))
    )


def test_non_boolean_values_do_not_combine_as_conditions() -> None:
    @pipeline
    def p() -> None:
        e = evaluate()
        with conveyor.If(e.outputs["passed"] & e.outputs["label"]):
            act()

    message = str(definition_error(p))
    assert "Output 'label' of task 'evaluate' is string, not a condition" in message


def test_is_in_accepts_a_list_mixing_outputs_and_constants() -> None:
    @pipeline
    def p(mode: str = "a") -> None:
        e = evaluate()
        with conveyor.If(mode.is_in([e.outputs["label"], "b"])):
            act()

    cond = built(p).groups["condition-1"].condition
    assert cond == Condition(
        "in",
        (
            PipelineParameterRef("mode"),
            ListRef((TaskOutputRef("evaluate", "label"), Constant("b"))),
        ),
    )


def test_a_boolean_output_or_parameter_alone_means_equal_to_true() -> None:
    @pipeline
    def p(on: bool = True) -> None:
        with conveyor.If(evaluate().outputs["passed"]):
            act()
        with conveyor.If(on):
            act()

    groups = built(p).groups
    passed = TaskOutputRef("evaluate", "passed")
    assert groups["condition-1"].condition == Condition("==", (passed, Constant(True)))
    assert groups["condition-2"].condition == Condition(
        "==", (PipelineParameterRef("on"), Constant(True))
    )


def test_elif_and_else_negate_the_previous_conditions_of_the_chain() -> None:
    @pipeline
    def p() -> None:
        s = evaluate().outputs["score"]
        with conveyor.If(s > 0.9, name="high"):
            act(level="high")
        with conveyor.Elif(s > 0.5, name="mid"):
            act(level="mid")
        with conveyor.Else(name="low"):
            act(level="low")

    groups = built(p).groups
    high = Condition(">", (SCORE, Constant(0.9)))
    mid = Condition(">", (SCORE, Constant(0.5)))
    assert groups["high"].condition == high
    assert groups["mid"].condition == Condition("and", (Condition("not", (high,)), mid))
    assert groups["low"].condition == Condition(
        "and", (Condition("not", (high,)), Condition("not", (mid,)))
    )


def test_else_after_a_single_if_is_its_negation() -> None:
    @pipeline
    def p() -> None:
        s = evaluate().outputs["score"]
        with conveyor.If(s > 0.9):
            act(level="high")
        with conveyor.Else():
            act(level="low")

    spec = built(p)
    assert spec.groups["condition-2"].condition == Condition(
        "not", (Condition(">", (SCORE, Constant(0.9))),)
    )
    assert spec.tasks["act-2"].group == "condition-2"


def test_nested_conditions_record_their_parent() -> None:
    @pipeline
    def p() -> None:
        e = evaluate()
        with conveyor.If(e.outputs["score"] > 0.5, name="outer"):
            with conveyor.If(e.outputs["label"] == "a", name="inner"):
                act()
            with conveyor.Else(name="other"):
                act()

    groups = built(p).groups
    assert groups["inner"].parent == "outer"
    assert groups["other"].parent == "outer"
    assert groups["outer"].parent is None


def test_group_names_are_unique_per_pipeline(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        s = count().output
        with conveyor.If(s > 1, name="gate"):
            act()
        with conveyor.If(s > 2, name="gate"):  # line: duplicate-name
            act()

    error = definition_error(p)
    assert "Two blocks are named 'gate'" in str(error)
    points_at(error, "duplicate-name")


def test_outputs_keep_hashing_by_identity() -> None:
    seen: dict[Any, int] = {}

    @pipeline
    def p(mode: str = "a") -> None:
        out = count().output
        seen[out] = 1
        seen[mode] = 2
        assert seen[out] == 1 and seen[mode] == 2
        act()

    built(p)
    assert len(seen) == 2


def test_a_comparison_is_a_condition_expression() -> None:
    seen: list[Any] = []

    @pipeline
    def p() -> None:
        seen.append(count().output == 3)
        act()

    built(p)
    assert isinstance(seen[0], ConditionExpr)


# --- errors ----------------------------------------------------------------------------------


def test_condition_on_a_missing_output_names_the_known_ones(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        e = evaluate()
        with conveyor.If(e.outputs["scor"] > 0.5):  # line: missing-output
            act()

    error = definition_error(p)
    message = str(error)
    assert "Task 'evaluate' has no output 'scor'" in message
    assert "['data', 'label', 'passed', 'score']" in message
    assert "Did you mean 'score'?" in message
    points_at(error, "missing-output")


def test_condition_on_an_artifact_is_an_error(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        e = evaluate()
        with conveyor.If(e.outputs["data"] == "x"):  # line: artifact
            act()

    error = definition_error(p)
    assert "Output 'data' of task 'evaluate' is an artifact" in str(error)
    assert "compares parameter values" in str(error)
    points_at(error, "artifact")


def test_elif_without_if_is_an_error(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        s = count().output
        with conveyor.Elif(s > 1):  # line: lonely-elif
            act()

    error = definition_error(p)
    assert "conveyor.Elif() must directly follow a `with conveyor.If(...)`" in str(error)
    points_at(error, "lonely-elif")


def test_else_after_a_task_created_between_is_an_error(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        s = count().output
        with conveyor.If(s > 1):
            act()
        act(level="between")
        with conveyor.Else():  # line: late-else
            act()

    error = definition_error(p)
    assert "conveyor.Else() must directly follow" in str(error)
    assert "with no task created in between" in str(error)
    points_at(error, "late-else")


def test_else_after_else_and_elif_at_another_level_are_errors() -> None:
    @pipeline
    def twice() -> None:
        s = count().output
        with conveyor.If(s > 1):
            act()
        with conveyor.Else():
            act()
        with conveyor.Else():
            act()

    @pipeline
    def deeper() -> None:
        s = count().output
        with conveyor.If(s > 1):
            act()
        with conveyor.If(s > 2), conveyor.Elif(s > 3):
            act()

    assert "conveyor.Else() must directly follow" in str(definition_error(twice))
    assert "conveyor.Elif() must directly follow" in str(definition_error(deeper))


def test_python_if_and_and_on_conditions_point_to_conveyor_if(points_at: Check) -> None:
    @pipeline
    def chained() -> None:
        s = count().output
        if 1 < s < 3:  # line: chained
            act()

    error = definition_error(chained)
    assert "A condition has no value while the pipeline is built" in str(error)
    assert "conveyor.If(...)" in str(error)
    points_at(error, "chained")


def test_mixing_up_precedence_of_and_with_comparisons_says_to_add_parentheses() -> None:
    @pipeline
    def p() -> None:
        s = count().output
        with conveyor.If(s > 1 & s):
            act()

    assert "put each comparison in parentheses" in str(definition_error(p))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda s, m: s == "high", "output 'Output' of task 'count' (integer) with 'high'"),
        (lambda s, m: s == m, "(integer) with pipeline parameter 'mode' (string)"),
        (lambda s, m: s.is_in(["a"]), "(integer) with 'a' in ['a']"),
        (lambda s, m: s.is_in(m), "is_in()/not_in() take a list, got pipeline parameter 'mode'"),
        (lambda s, m: s == object(), "which is not a JSON value"),
        (lambda s, m: s == (s > 1), "compares values, got a condition"),
    ],
    ids=["literal", "parameter", "in-list", "in-scalar", "not-json", "condition"],
)
def test_comparisons_of_mismatched_types_are_errors(build: Any, message: str) -> None:
    @pipeline
    def p(mode: str = "a") -> None:
        with conveyor.If(build(count().output, mode)):
            act()

    assert message in str(definition_error(p))


def test_integer_outputs_compare_with_floats() -> None:
    @pipeline
    def p() -> None:
        with conveyor.If(count().output > 2.5):
            act()

    assert built(p).groups["condition-1"].condition.args[1] == Constant(2.5)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (lambda: True, "got True, which is known while the pipeline is built"),
        (lambda: count().output, "output 'Output' of task 'count' is integer"),
        (lambda: "yes", "takes a condition such as"),
    ],
    ids=["python-bool", "non-boolean-output", "string"],
)
def test_if_rejects_what_is_not_a_condition(value: Any, message: str) -> None:
    @pipeline
    def p() -> None:
        with conveyor.If(value()):
            act()

    assert message in str(definition_error(p))


def test_if_outside_a_pipeline_is_an_error(points_at: Check) -> None:
    with pytest.raises(DefinitionError) as info:
        conveyor.Else()  # line: outside
    assert "is used inside a @pipeline function" in str(info.value)
    points_at(info.value, "outside")
