"""``loads`` reads back exactly what ``dumps`` wrote: the same bytes and an equal spec."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from conveyor.ir import (
    MISSING,
    Condition,
    Constant,
    GroupSpec,
    ParameterSpec,
    PipelineParameterRef,
    PipelineSpec,
    dumps,
    loads,
    spec_from_dict,
    spec_to_dict,
)
from conveyor.ir.spec import COMPARISON_OPS


def test_round_trip_gives_the_same_bytes_for_every_resource_pipeline(
    resource_pipeline: tuple[str, str], pipeline_of: Any
) -> None:
    text = dumps(pipeline_of(resource_pipeline).spec)

    assert dumps(loads(text)) == text


def test_round_trip_gives_an_equal_spec_for_every_resource_pipeline(
    resource_pipeline: tuple[str, str], pipeline_of: Any
) -> None:
    spec = pipeline_of(resource_pipeline).spec

    assert loads(dumps(spec)) == spec


def test_round_trip_keeps_every_group_kind_value_reference_and_condition(
    full_spec: PipelineSpec,
) -> None:
    text = dumps(full_spec)

    again = loads(text)

    assert again == full_spec
    assert dumps(again) == text
    assert {g.kind for g in again.groups.values()} == {
        "condition",
        "parallel_for",
        "loop",
        "exit_handler",
    }


def test_round_trip_keeps_the_difference_between_no_default_and_a_none_default(
    full_spec: PipelineSpec,
) -> None:
    params = {
        "required": ParameterSpec("string"),
        "none": ParameterSpec("string", default=None, nullable=True),
    }

    again = loads(dumps(replace(full_spec, parameters={**full_spec.parameters, **params})))

    assert again.parameters["required"].default is MISSING
    assert not again.parameters["required"].has_default
    assert again.parameters["none"].default is None
    assert again.parameters["none"].has_default


@pytest.mark.parametrize("op", COMPARISON_OPS)
def test_round_trip_keeps_each_comparison_operator(full_spec: PipelineSpec, op: str) -> None:
    cond = Condition(op, (PipelineParameterRef("threshold"), Constant(1)))
    spec = replace(
        full_spec,
        groups={**full_spec.groups, "gate": replace(full_spec.groups["gate"], condition=cond)},
    )

    assert loads(dumps(spec)).groups["gate"].condition == cond


def test_spec_to_dict_and_spec_from_dict_are_inverse(full_spec: PipelineSpec) -> None:
    assert spec_from_dict(spec_to_dict(full_spec)) == full_spec


def test_round_trip_keeps_a_group_without_optional_fields() -> None:
    spec = PipelineSpec(name="p", groups={"g": GroupSpec("g", "loop", max_iterations=1)})

    again = loads(dumps(spec))

    assert again.groups["g"] == GroupSpec("g", "loop", max_iterations=1)
    assert again.groups["g"].until is None and again.groups["g"].parent is None
