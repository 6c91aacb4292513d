"""RunResult: reading a run's tasks and instances from Python."""

from __future__ import annotations

from conveyor.execution.results import TaskOutputs, TaskResult
from conveyor.metadata.entities import ExecutionState
from conveyor.orchestrator import RunResult


def _result(*names: str) -> RunResult:
    return RunResult(
        "r",
        "p",
        "COMPLETE",
        {n: TaskResult(n, ExecutionState.COMPLETE, outputs=TaskOutputs({"n": n})) for n in names},
    )


def test_instances_are_in_iteration_order_including_nested_ones() -> None:
    result = _result("fit[10]", "fit[2]", "fit-2[0]", "fit", "step[1][0]", "step[0][1]", "x[*]")

    assert [r.task for r in result.instances("fit[")] == []
    assert [r.task for r in result.instances("fit")] == ["fit", "fit[2]", "fit[10]"]
    assert [r.task for r in result.instances("step")] == ["step[0][1]", "step[1][0]"]
    assert result.instances("x") == []  # never expanded: no instance
    assert result.outputs("fit[2]").parameters == {"n": "fit[2]"}
