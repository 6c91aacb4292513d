"""PipelineSpec answers graph questions: order, downstream tasks, cycles; RetryPolicy waits."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conveyor.ir import PipelineSpec, RetryPolicy, TaskSpec
from conveyor.ir.spec import cycle_members


def _spec(deps: dict[str, tuple[str, ...]]) -> PipelineSpec:
    return PipelineSpec(
        name="g", tasks={n: TaskSpec(n, "c", depends_on=d) for n, d in deps.items()}
    )


def test_topological_order_puts_each_task_after_its_dependencies_ties_by_name() -> None:
    spec = _spec({"d": ("b", "c"), "c": ("a",), "b": ("a",), "a": ()})

    assert spec.topological_order() == ["a", "b", "c", "d"]


def test_topological_order_raises_naming_only_the_tasks_on_the_cycle() -> None:
    spec = _spec({"a": (), "b": ("a", "c"), "c": ("b",), "d": ("c",)})

    with pytest.raises(ValueError, match=r"Cycle among tasks \['b', 'c'\]"):
        spec.topological_order()


def test_cycle_members_is_empty_for_a_dag_and_finds_a_self_loop() -> None:
    assert cycle_members(_spec({"a": (), "b": ("a",)}).tasks) == []
    assert cycle_members(_spec({"a": ("a",), "b": ("a",)}).tasks) == ["a"]


def test_downstream_of_returns_every_direct_and_indirect_dependent() -> None:
    spec = _spec({"a": (), "b": ("a",), "c": ("b",), "d": ()})

    assert spec.downstream_of("a") == {"b", "c"}
    assert spec.downstream_of("c") == set()


def test_component_of_returns_the_component_a_task_calls(full_spec: PipelineSpec) -> None:
    assert full_spec.component_of("refit") is full_spec.components["consume"]


def test_retry_policy_delay_grows_exponentially_and_is_capped() -> None:
    policy = RetryPolicy(max_retries=5, backoff_seconds=1, backoff_factor=3, backoff_max_seconds=20)

    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [1.0, 3.0, 9.0, 20.0]
    assert isinstance(policy.delay(1), float)


def test_specs_are_frozen(full_spec: PipelineSpec) -> None:
    with pytest.raises(AttributeError):
        full_spec.name = "other"  # type: ignore[misc]
    assert replace(full_spec, name="other").name == "other"
