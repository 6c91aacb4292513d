"""Run-time task options: ``set_resources``/``set_retry``/``set_timeout`` with values known only
when the run starts, literal memory sizes checked early, and the lookup of unknown outputs."""

from __future__ import annotations

from typing import Any

import pytest
from control_support import Check, built, definition_error

import conveyor
from conveyor import Dataset, Output, component, pipeline
from conveyor.ir import (
    LoopItemRef,
    PipelineParameterRef,
    Resources,
    RetryPolicy,
    TaskOutputRef,
)


@component(retries=2, timeout=30, cpu=1, memory="1Gi")
def step(n: int = 0) -> None:
    """A step with options."""


@component
def sizing(data: Output[Dataset]) -> int:
    """Decide a size at run time."""
    return 2


@component
def label() -> str:
    """A string."""
    return "x"


def test_run_time_options_are_stored_as_dynamic_refs_and_outputs_become_dependencies() -> None:
    @pipeline
    def p(memory: str = "2Gi", cpus: float = 2.0, retries: int = 1) -> None:
        s = sizing()
        step().set_resources(cpu=cpus, memory=memory, gpu=s.output).set_retry(
            retries, backoff_seconds=3
        ).set_timeout(s.output)

    task = built(p).tasks["step"]
    assert task.dynamic == {
        "cpu": PipelineParameterRef("cpus"),
        "memory": PipelineParameterRef("memory"),
        "gpu": TaskOutputRef("sizing", "Output"),
        "max_retries": PipelineParameterRef("retries"),
        "timeout_seconds": TaskOutputRef("sizing", "Output"),
    }
    assert task.depends_on == ("sizing",)
    # the literal options stay the component's until the run-time values are known
    assert task.resources == Resources(cpu=1, memory="1Gi")
    assert task.retry == RetryPolicy(max_retries=2, backoff_seconds=3)
    assert task.timeout_seconds == 30


def test_a_literal_replaces_an_earlier_run_time_value() -> None:
    @pipeline
    def p(cpus: float = 2.0) -> None:
        step().set_resources(cpu=cpus).set_resources(cpu=4).set_timeout(cpus).set_timeout(None)

    task = built(p).tasks["step"]
    assert dict(task.dynamic) == {}
    assert task.resources.cpu == 4
    assert task.timeout_seconds is None


def test_a_loop_item_may_size_each_instance() -> None:
    @pipeline
    def p() -> None:
        with conveyor.ParallelFor([{"mem": "1Gi"}, {"mem": "2Gi"}]) as item:
            step(n=1).set_resources(memory=item["mem"])

    assert built(p).tasks["step"].dynamic == {"memory": LoopItemRef("parallel-for-1", "mem")}


def test_memory_may_be_a_number_of_bytes_from_an_integer_parameter() -> None:
    @pipeline
    def p(mem: int = 1024) -> None:
        step().set_resources(memory=mem)

    assert built(p).tasks["step"].dynamic == {"memory": PipelineParameterRef("mem")}


@pytest.mark.parametrize(
    ("configure", "message"),
    [
        (
            lambda t, s: t.set_resources(cpu=s.outputs["data"]),
            "set_resources(cpu=...): parameter 'cpu' (number) is bound to artifact 'data'",
        ),
        (
            lambda t, s: t.set_retry(label().output),
            "set_retry(max_retries=...): parameter 'max_retries' expects integer, got string",
        ),
        (
            lambda t, s: t.set_timeout(step()),
            "has 0 outputs",
        ),
        (
            lambda t, s: t.set_resources(gpu=s.output > 1),
            "got a condition",
        ),
    ],
    ids=["artifact", "wrong-type", "no-output", "condition"],
)
def test_run_time_options_are_checked(configure: Any, message: str) -> None:
    @pipeline
    def p() -> None:
        configure(step(), sizing())

    assert message in str(definition_error(p))


def test_an_option_from_the_tasks_own_output_is_an_error() -> None:
    @pipeline
    def p() -> None:
        s = sizing()
        s.set_timeout(s.output)

    assert "an option of a task cannot come from the task's own output" in str(definition_error(p))


def test_an_option_closing_a_cycle_is_reported_as_such() -> None:
    @pipeline
    def p() -> None:
        first = step()
        second = sizing().after(first)
        first.set_timeout(second.output)

    assert "dependency cycle through a run-time option among tasks ['sizing', 'step']" in str(
        definition_error(p)
    )


def test_output_of_a_parallel_for_task_as_an_option_outside_needs_collected() -> None:
    @pipeline
    def p() -> None:
        with conveyor.ParallelFor([1]):
            s = sizing()
        step().set_retry(s.output)

    assert "collect it with conveyor.Collected(" in str(definition_error(p))


@pytest.mark.parametrize("memory", ["512Mi", "2Gi", "1G", "500M", "1024", "1.5Gi", "64Ki"])
def test_valid_memory_sizes_are_kept_as_written(memory: str) -> None:
    @pipeline
    def p() -> None:
        step().set_resources(memory=memory)

    assert built(p).tasks["step"].resources.memory == memory


@pytest.mark.parametrize("memory", ["lots", "2GB", "-1Gi", "1 gigabyte", "0", ""])
def test_bad_memory_string_is_an_error_at_the_users_line(memory: str, points_at: Check) -> None:
    @pipeline
    def p() -> None:
        step().set_resources(memory=memory)  # line: memory

    error = definition_error(p)
    assert "Task 'step': set_resources(memory=...): Memory size" in str(error)
    points_at(error, "memory")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"cpu": 0}, "cpu must be a number > 0, got 0"), ({"gpu": -1}, "gpu must be a whole")],
    ids=["cpu", "gpu"],
)
def test_bad_literal_resources_are_errors(kwargs: dict[str, Any], message: str) -> None:
    @pipeline
    def p() -> None:
        step().set_resources(**kwargs)

    assert message in str(definition_error(p))


def test_unknown_output_names_the_task_and_suggests_the_closest(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        s = sizing()
        step(n=s.outputs["Outptu"])  # line: unknown-output

    error = definition_error(p)
    message = str(error)
    assert "Task 'sizing' has no output 'Outptu'; its outputs are ['Output', 'data']" in message
    assert "Did you mean 'Output'?" in message
    points_at(error, "unknown-output")


def test_known_outputs_and_get_still_work_like_a_dict() -> None:
    seen: list[Any] = []

    @pipeline
    def p() -> None:
        s = sizing()
        seen.extend([s.outputs.get("nope"), "data" in s.outputs, sorted(s.outputs)])
        step(n=s.outputs["Output"])

    assert built(p).tasks["step"].inputs["n"] == TaskOutputRef("sizing", "Output")
    assert seen == [None, True, ["Output", "data"]]
