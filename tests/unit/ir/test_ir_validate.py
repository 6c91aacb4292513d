"""``validate`` reports every lint problem of a spec, each in words naming the culprit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from conveyor.errors import PipelineValidationError
from conveyor.ir import (
    ArtifactSpec,
    CollectedRef,
    Condition,
    Constant,
    GroupSpec,
    ListRef,
    LoopItemRef,
    ParameterSpec,
    PipelineParameterRef,
    PipelineSpec,
    TaskOutputRef,
    validate,
)

Mutation = Callable[[PipelineSpec], PipelineSpec]


def task(name: str, **changes: Any) -> Mutation:
    def mutate(spec: PipelineSpec) -> PipelineSpec:
        return replace(spec, tasks={**spec.tasks, name: replace(spec.tasks[name], **changes)})

    return mutate


def bind(name: str, key: str, ref: Any) -> Mutation:
    def mutate(spec: PipelineSpec) -> PipelineSpec:
        inputs = {**spec.tasks[name].inputs, key: ref}
        return task(name, inputs=inputs)(spec)

    return mutate


def unbind(name: str, key: str) -> Mutation:
    def mutate(spec: PipelineSpec) -> PipelineSpec:
        inputs = {k: v for k, v in spec.tasks[name].inputs.items() if k != key}
        return task(name, inputs=inputs)(spec)

    return mutate


def group(name: str, **changes: Any) -> Mutation:
    def mutate(spec: PipelineSpec) -> PipelineSpec:
        return replace(spec, groups={**spec.groups, name: replace(spec.groups[name], **changes)})

    return mutate


def component(key: str, **changes: Any) -> Mutation:
    def mutate(spec: PipelineSpec) -> PipelineSpec:
        comps = {**spec.components, key: replace(spec.components[key], **changes)}
        return replace(spec, components=comps)

    return mutate


def add_group(g: GroupSpec) -> Mutation:
    def mutate(spec: PipelineSpec) -> PipelineSpec:
        return replace(spec, groups={**spec.groups, g.name: g})

    return mutate


MODEL = "conveyor.Model@1.0.0"
SKIP = Condition("==", (PipelineParameterRef("mode"), Constant("skip")))

PROBLEMS: dict[str, tuple[Mutation, str]] = {
    "unknown component": (
        task("produce", component="nope"),
        "task 'produce' calls unknown component 'nope'",
    ),
    "component stored under another name": (
        component("notify", name="alert"),
        "component key 'notify' holds a component named 'alert'",
    ),
    "unknown task in a reference": (
        bind("consume", "data", TaskOutputRef("ghost", "data")),
        "task 'consume' input 'data' uses output of unknown task 'ghost'",
    ),
    "unknown output": (
        bind("consume", "data", TaskOutputRef("produce", "rows")),
        "task 'consume' input 'data' uses unknown output 'rows' of 'produce'",
    ),
    "unknown pipeline parameter": (
        bind("refit", "x", PipelineParameterRef("lr")),
        "task 'refit' input 'x' uses unknown pipeline parameter 'lr'",
    ),
    "unknown input key": (
        bind("refit", "y", Constant(1)),
        "task 'refit' binds unknown input 'y' of component 'consume'",
    ),
    "unbound required artifact input": (
        unbind("consume", "data"),
        "task 'consume' leaves required artifact input 'data' unbound",
    ),
    "unbound required parameter": (
        unbind("gather", "values"),
        "task 'gather' leaves required parameter 'values' unbound",
    ),
    "reference missing from depends_on": (
        task("consume", depends_on=()),
        "task 'consume' uses 'produce' but does not list it in depends_on",
    ),
    "dependency on an unknown task": (
        task("notify", depends_on=("ghost",)),
        "task 'notify' depends on unknown task 'ghost'",
    ),
    "dependency on itself": (
        task("notify", depends_on=("notify",)),
        "task 'notify' depends on itself",
    ),
    "dependency cycle": (
        task("produce", depends_on=("refit",)),
        "Cycle among tasks ['produce', 'refit']",
    ),
    "artifact type mismatch": (
        component("produce", output_artifacts={"data": ArtifactSpec(MODEL)}),
        "task 'consume' input 'data' expects conveyor.Dataset@1.0.0, got conveyor.Model@1.0.0 "
        "from task 'produce' output 'data'",
    ),
    "artifact input bound to a parameter output": (
        bind("consume", "data", TaskOutputRef("produce", "Output")),
        "task 'consume' artifact input 'data' is bound to a parameter output",
    ),
    "artifact input bound to a constant": (
        bind("consume", "data", Constant("rows.csv")),
        "task 'consume' artifact input 'data' must come from a task output",
    ),
    "list into a single artifact input": (
        bind("consume", "data", ListRef((TaskOutputRef("produce", "data"),))),
        "task 'consume' input 'data' takes one artifact, not a list",
    ),
    "single artifact into a fan-in input": (
        bind("gather", "parts", TaskOutputRef("produce", "data")),
        "task 'gather' input 'parts' takes a list of artifacts (fan-in)",
    ),
    "parameter bound to an artifact output": (
        bind("gather", "mode", TaskOutputRef("produce", "data")),
        "task 'gather' parameter 'mode' is bound to artifact 'data' of task 'produce'",
    ),
    "parameter type mismatch": (
        bind("gather", "mode", TaskOutputRef("produce", "Output")),
        "task 'gather' parameter 'mode' expects string, got number from task 'produce' "
        "output 'Output'",
    ),
    "pipeline parameter type mismatch": (
        bind("gather", "mode", PipelineParameterRef("threshold")),
        "task 'gather' parameter 'mode' expects string, got pipeline parameter 'threshold' "
        "of type number",
    ),
    "constant of the wrong type": (
        bind("gather", "mode", Constant(3)),
        "task 'gather' parameter 'mode' expects string, got 3",
    ),
    "constant outside the allowed values": (
        bind("gather", "mode", Constant("c")),
        "task 'gather' parameter 'mode' must be one of ['a', 'b'], got 'c'",
    ),
    "list into a scalar parameter": (
        bind("gather", "mode", ListRef((Constant("a"),))),
        "task 'gather' parameter 'mode' expects string, got a list",
    ),
    "unknown parameter type": (
        lambda s: replace(s, parameters={**s.parameters, "when": ParameterSpec("date")}),
        "pipeline parameter 'when' has unknown type 'date'",
    ),
    "unknown component parameter type": (
        component("notify", input_parameters={"status": ParameterSpec("text")}),
        "component 'notify' input 'status' has unknown type 'text'",
    ),
    "unbounded loop": (
        group("retrain", max_iterations=None),
        "loop group 'retrain' must be bounded: set max_iterations >= 1",
    ),
    "loop bounded by zero": (
        group("retrain", max_iterations=0),
        "loop group 'retrain' must be bounded",
    ),
    "parallel_for without items": (
        group("fan", items=None),
        "parallel_for group 'fan' has no items",
    ),
    "parallel_for over a constant that is not a list": (
        group("fan", items=Constant(3)),
        "parallel_for group 'fan' items must be a list, got 3",
    ),
    "parallel_for with parallelism 0": (
        group("fan", parallelism=0),
        "parallel_for group 'fan' has parallelism 0 (< 1)",
    ),
    "parallel_for over an unknown parameter": (
        group("fan", items=PipelineParameterRef("rows")),
        "group 'fan' items uses unknown pipeline parameter 'rows'",
    ),
    "condition group without a condition": (
        group("gate", condition=None),
        "condition group 'gate' has no condition",
    ),
    "condition over an unknown task": (
        group("gate", condition=Condition("==", (TaskOutputRef("ghost", "x"), Constant(1)))),
        "group 'gate' condition uses output of unknown task 'ghost'",
    ),
    "condition with an unknown operator": (
        group("gate", condition=Condition("~=", (Constant(1), Constant(1)))),
        "group 'gate' condition: unknown operator '~='",
    ),
    "comparison with one value": (
        group("gate", condition=Condition("==", (Constant(1),))),
        "group 'gate' condition: '==' compares 2 values, got 1",
    ),
    "not with two conditions": (
        group("gate", condition=Condition("not", (SKIP, SKIP))),
        "group 'gate' condition: 'not' takes 1 condition, got 2",
    ),
    "and of one condition": (
        group("gate", condition=Condition("and", (SKIP,))),
        "group 'gate' condition: 'and' takes at least 2 conditions, got 1",
    ),
    "and of values": (
        group("gate", condition=Condition("and", (Constant(True), SKIP))),
        "group 'gate' condition: 'and' combines conditions, got the value",
    ),
    "comparison of conditions": (
        group("gate", condition=Condition("==", (SKIP, Constant(True)))),
        "group 'gate' condition: '==' compares values, got a condition",
    ),
    "until over an unknown parameter": (
        group("retrain", until=Condition(">", (PipelineParameterRef("goal"), Constant(1)))),
        "group 'retrain' until uses unknown pipeline parameter 'goal'",
    ),
    "exit handler naming an unknown task": (
        group("exit", handler_task="page-oncall"),
        "exit_handler group 'exit' names unknown handler task 'page-oncall'",
    ),
    "group with an unknown parent": (
        group("fan", parent="outer"),
        "group 'fan' has unknown parent 'outer'",
    ),
    "groups that are each other's parents": (
        group("exit", parent="fan"),
        "groups ['exit', 'fan', 'gate'] are each other's parents (a cycle)",
    ),
    "group of an unknown kind": (
        add_group(GroupSpec("odd", "switch")),  # type: ignore[arg-type]
        "group 'odd' has unknown kind 'switch'",
    ),
    "group setting a field its kind does not use": (
        group("gate", max_iterations=3),
        "condition group 'gate' sets 'max_iterations', which it does not use",
    ),
    "task in an unknown group": (
        task("notify", group="cleanup"),
        "task 'notify' is in unknown group 'cleanup'",
    ),
    "loop item of an unknown group": (
        bind("consume", "x", LoopItemRef("shards")),
        "task 'consume' input 'x' uses unknown parallel_for group 'shards'",
    ),
    "loop item of a group that is not a parallel_for": (
        bind("consume", "x", LoopItemRef("retrain")),
        "task 'consume' input 'x' uses group 'retrain', a loop group, not a parallel_for",
    ),
    "collected over an unknown group": (
        bind("gather", "parts", CollectedRef("consume", "out", "fanout")),
        "task 'gather' input 'parts' collects over unknown group 'fanout'",
    ),
}


def test_validate_accepts_the_hand_built_spec(full_spec: PipelineSpec) -> None:
    validate(full_spec)  # raises on any problem


def test_validate_accepts_every_resource_pipeline(
    resource_pipeline: tuple[str, str], pipeline_of: Any
) -> None:
    validate(pipeline_of(resource_pipeline).spec)  # raises on any problem


@pytest.mark.parametrize(("mutate", "expected"), PROBLEMS.values(), ids=list(PROBLEMS))
def test_validate_reports_the_problem(
    full_spec: PipelineSpec, mutate: Mutation, expected: str
) -> None:
    with pytest.raises(PipelineValidationError) as info:
        validate(mutate(full_spec))

    assert expected in str(info.value)


def test_validate_lists_every_problem_in_one_error(full_spec: PipelineSpec) -> None:
    broken = group("fan", items=None)(task("produce", component="nope")(full_spec))

    with pytest.raises(PipelineValidationError) as info:
        validate(broken)

    lines = str(info.value).splitlines()
    assert lines[0] == "Pipeline 'handbuilt' is not valid:"
    assert "  - task 'produce' calls unknown component 'nope'" in lines
    assert "  - parallel_for group 'fan' has no items" in lines


def test_validate_does_not_report_a_cycle_for_an_unknown_dependency(
    full_spec: PipelineSpec,
) -> None:
    with pytest.raises(PipelineValidationError) as info:
        validate(task("notify", depends_on=("ghost",))(full_spec))

    assert "Cycle" not in str(info.value)


def test_validate_accepts_an_int_output_into_a_number_parameter(full_spec: PipelineSpec) -> None:
    spec = component("produce", output_parameters={"Output": ParameterSpec("integer")})(full_spec)

    validate(spec)  # raises on any problem


def test_validate_accepts_an_artifact_type_this_process_does_not_know(
    full_spec: PipelineSpec,
) -> None:
    # A user type whose module is not imported here: the DSL checked it at build time.
    spec = component("produce", output_artifacts={"data": ArtifactSpec("acme.Rows@3.1.0")})(
        full_spec
    )

    validate(spec)  # raises on any problem
