"""``ParallelFor`` and ``Collected``: fan-out over items, fan-in of every iteration's output."""

from __future__ import annotations

from typing import Any

import pytest
from control_support import Check, built, definition_error

import conveyor
from conveyor import Dataset, Input, Model, Output, component, pipeline
from conveyor.ir import (
    CollectedRef,
    Condition,
    Constant,
    ListRef,
    LoopItemRef,
    PipelineParameterRef,
    TaskOutputRef,
)


@component
def shards(n: int = 2) -> list:
    """The shards, known at run time."""
    return list(range(n))


@component
def name() -> str:
    """Not a list."""
    return "x"


@component
def process(shard: Any = None, out: Output[Dataset] = None) -> int:  # type: ignore[assignment]
    """Process one shard."""
    return 1


@component
def fit(lr: float, model: Output[Model]) -> float:
    """Fit one model."""
    return lr


@component
def merge(parts: Input[list[Dataset]], sizes: list | None = None) -> None:
    """Fan in data sets and sizes."""


@component
def count(parts: Input[list[Dataset]]) -> int:
    """Count data sets."""
    return len(parts)


@component
def single(data: Input[Dataset]) -> None:
    """Take one data set."""


@component
def scalar(x: int = 0) -> None:
    """Take one number."""


def test_parallel_for_over_a_list_literal_binds_the_item_and_its_keys() -> None:
    @pipeline
    def p() -> None:
        with conveyor.ParallelFor([{"lr": 0.1}, {"lr": 0.01}], parallelism=2) as item:
            fit(lr=item["lr"])
            process(shard=item)

    spec = built(p)
    group = spec.groups["parallel-for-1"]
    assert (group.kind, group.parent, group.parallelism) == ("parallel_for", None, 2)
    assert group.items == Constant([{"lr": 0.1}, {"lr": 0.01}])
    assert spec.tasks["fit"].inputs["lr"] == LoopItemRef("parallel-for-1", "lr")
    assert spec.tasks["process"].inputs["shard"] == LoopItemRef("parallel-for-1")
    assert spec.tasks["fit"].group == "parallel-for-1"


def test_parallel_for_items_may_be_a_parameter_an_output_or_a_list_of_refs() -> None:
    @pipeline
    def p(names: list = ["a"], extra: str = "z") -> None:  # noqa: B006 - a pipeline default
        s = shards()
        with conveyor.ParallelFor(names, name="by-param") as a:
            process(shard=a)
        with conveyor.ParallelFor(s, name="by-output") as b:
            process(shard=b)
        with conveyor.ParallelFor((extra, s.output, 3), name="by-list") as c:
            process(shard=c)

    groups = built(p).groups
    assert groups["by-param"].items == PipelineParameterRef("names")
    assert groups["by-output"].items == TaskOutputRef("shards", "Output")
    assert groups["by-list"].items == ListRef(
        (PipelineParameterRef("extra"), TaskOutputRef("shards", "Output"), Constant(3))
    )


def test_tasks_inside_do_not_depend_on_the_items_producer() -> None:
    @pipeline
    def p() -> None:
        s = shards()
        with conveyor.ParallelFor(s.output) as item:
            process(shard=item)

    assert built(p).tasks["process"].depends_on == ()


def test_collected_fans_in_artifacts_and_parameters_over_the_iterations() -> None:
    @pipeline
    def p() -> None:
        with conveyor.ParallelFor([1, 2, 3]) as item:
            t = process(shard=item)
        merge(parts=conveyor.Collected(t.outputs["out"]), sizes=conveyor.Collected[t.output])

    merge_task = built(p).tasks["merge"]
    assert merge_task.inputs == {
        "parts": CollectedRef("process", "out", "parallel-for-1"),
        "sizes": CollectedRef("process", "Output", "parallel-for-1"),
    }
    assert merge_task.depends_on == ("process",)
    assert merge_task.group is None


def test_nested_parallel_for_inside_a_condition_collects_one_level_at_a_time() -> None:
    @pipeline
    def p(go: bool = True) -> None:
        with conveyor.If(go, name="gate"):
            with conveyor.ParallelFor([[1, 2], [3]], name="outer") as row:
                with conveyor.ParallelFor(row, name="inner") as cell:
                    t = process(shard=cell)
                    with conveyor.If(cell > 1, name="big"):
                        scalar(x=cell)
                inner = count(parts=conveyor.Collected(t.outputs["out"]))
            merge(parts=[], sizes=conveyor.Collected(inner))

    spec = built(p)
    assert spec.groups["outer"].parent == "gate"
    assert spec.groups["inner"].parent == "outer"
    assert spec.groups["inner"].items == LoopItemRef("outer")
    assert spec.groups["big"].parent == "inner"
    assert spec.groups["big"].condition == Condition(">", (LoopItemRef("inner"), Constant(1)))
    assert spec.tasks["count"].inputs["parts"] == CollectedRef("process", "out", "inner")
    assert spec.tasks["count"].group == "outer"
    assert spec.tasks["merge"].inputs["sizes"] == CollectedRef("count", "Output", "outer")
    assert spec.tasks["merge"].group == "gate"


def test_static_items_are_checked_against_the_input_type(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        with conveyor.ParallelFor([1, "two"]) as item:
            scalar(x=item)  # line: item-type

    error = definition_error(p)
    assert "parameter 'x' expects integer, but item 1 of ParallelFor 'parallel-for-1'" in str(error)
    points_at(error, "item-type")


# --- errors ----------------------------------------------------------------------------------


def test_output_of_a_parallel_for_task_used_outside_needs_collected(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        with conveyor.ParallelFor([1, 2]) as item:
            t = process(shard=item)
        single(data=t.outputs["out"])  # line: uncollected

    error = definition_error(p)
    message = str(error)
    assert "input 'data' uses output 'out' of task 'process', which runs once per item" in message
    assert "collect it with conveyor.Collected(" in message
    points_at(error, "uncollected")


def test_item_used_outside_its_loop_is_an_error(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        with conveyor.ParallelFor([1, 2]) as item:
            scalar(x=item)
        scalar(x=item)  # line: item-outside

    error = definition_error(p)
    assert "uses the item of ParallelFor 'parallel-for-1' outside its `with` block" in str(error)
    points_at(error, "item-outside")


def test_item_in_a_condition_outside_its_loop_is_an_error(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        with conveyor.ParallelFor([1, 2]) as item:
            scalar(x=item)
        with conveyor.If(item > 1):  # line: cond-outside
            scalar()

    error = definition_error(p)
    assert "its condition uses the item of ParallelFor 'parallel-for-1' outside" in str(error)
    points_at(error, "cond-outside")


def test_missing_key_of_static_dict_items_suggests_the_closest(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        with conveyor.ParallelFor([{"lr": 0.1, "depth": 2}, {"lr": 0.2}]) as item:
            fit(lr=item["deph"])  # line: bad-key

    error = definition_error(p)
    message = str(error)
    assert "item['deph']: item 0 of ParallelFor 'parallel-for-1' has no key 'deph'" in message
    assert "its keys are ['depth', 'lr']. Did you mean 'depth'?" in message
    points_at(error, "bad-key")


def test_key_missing_from_one_item_is_an_error() -> None:
    @pipeline
    def p() -> None:
        with conveyor.ParallelFor([{"lr": 0.1, "depth": 2}, {"lr": 0.2}]) as item:
            fit(lr=item["depth"])

    assert "item 1 of ParallelFor 'parallel-for-1' has no key 'depth'; its keys are ['lr']" in (
        str(definition_error(p))
    )


def test_key_of_items_that_are_not_dicts_is_an_error() -> None:
    @pipeline
    def p() -> None:
        with conveyor.ParallelFor([1, 2]) as item:
            scalar(x=item["a"])

    assert "are not all dicts, e.g. 1" in str(definition_error(p))


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (lambda: "abc", "the items must be a list"),
        (lambda: 3, "the items must be a list"),
        (lambda: name().output, "parameter 'items' expects array, got string"),
        (lambda: process(shard=1).outputs["out"], "is bound to artifact 'out'"),
        (lambda: [float("nan")], "the items must be JSON values"),
    ],
    ids=["string", "number", "string-output", "artifact", "nan"],
)
def test_parallel_for_rejects_items_that_are_not_a_list(items: Any, message: str) -> None:
    @pipeline
    def p() -> None:
        with conveyor.ParallelFor(items()) as item:
            process(shard=item)

    error = definition_error(p)
    assert "conveyor.ParallelFor(items=...)" in str(error)
    assert message in str(error)


@pytest.mark.parametrize("parallelism", [0, -1, 1.5, True])
def test_parallel_for_rejects_a_bad_parallelism(parallelism: Any) -> None:
    @pipeline
    def p() -> None:
        with conveyor.ParallelFor([1], parallelism=parallelism) as item:
            process(shard=item)

    assert "parallelism=...) must be a whole number >= 1" in str(definition_error(p))


def test_collected_of_a_task_not_in_a_loop_is_an_error() -> None:
    @pipeline
    def p() -> None:
        t = process()
        merge(parts=conveyor.Collected(t.outputs["out"]))

    assert "task 'process' runs once from here" in str(definition_error(p))


def test_collected_into_a_single_artifact_input_is_an_error() -> None:
    @pipeline
    def p() -> None:
        with conveyor.ParallelFor([1]) as item:
            t = process(shard=item)
        single(data=conveyor.Collected(t.outputs["out"]))

    assert "conveyor.Collected(...) gives a list. Declare it as Input[list[...]]" in str(
        definition_error(p)
    )


def test_collected_into_a_scalar_parameter_is_an_error() -> None:
    @pipeline
    def p() -> None:
        with conveyor.ParallelFor([1]) as item:
            t = process(shard=item)
        scalar(x=conveyor.Collected(t.output))

    assert "expects integer, but conveyor.Collected(...) gives a list" in str(definition_error(p))


def test_collected_across_two_nested_loops_at_once_is_an_error() -> None:
    @pipeline
    def p() -> None:
        with conveyor.ParallelFor([[1]]) as row, conveyor.ParallelFor(row) as cell:
            t = process(shard=cell)
        merge(parts=conveyor.Collected(t.outputs["out"]))

    assert "collect one level at a time" in str(definition_error(p))


def test_a_list_artifact_input_without_a_list_mentions_collected() -> None:
    @pipeline
    def p() -> None:
        merge(parts=process().outputs["out"])

    assert "conveyor.Collected(t.outputs['out'])" in str(definition_error(p))


def test_empty_parallel_for_block_is_an_error() -> None:
    @pipeline
    def p() -> None:
        process()
        with conveyor.ParallelFor([1]):
            pass

    assert "A conveyor.ParallelFor block created no tasks" in str(definition_error(p))
