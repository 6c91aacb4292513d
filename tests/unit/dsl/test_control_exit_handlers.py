"""``ExitHandler`` and ``RunStatus``: a task that always runs after a block, told how it ended."""

from __future__ import annotations

from typing import Any

import pytest
from control_support import Check, built, definition_error

import conveyor
from conveyor import component, pipeline
from conveyor.ir import RunStatusRef


@component
def notify(status: dict, channel: str = "ops") -> None:
    """Report how the block ended."""


@component
def loose(status: Any = None) -> None:
    """Takes anything."""


@component
def wrong(status: str = "") -> None:
    """Takes a string."""


@component
def work(n: int = 0) -> int:
    """Do work."""
    return n


def test_exit_handler_group_names_its_handler_and_holds_the_tasks_inside() -> None:
    @pipeline
    def p() -> None:
        first = work()
        handler = notify(status=conveyor.RunStatus)
        with conveyor.ExitHandler(handler, name="guard"):
            a = work(n=first.output)
            work(n=a.output)

    spec = built(p)
    group = spec.groups["guard"]
    assert (group.kind, group.handler_task, group.parent) == ("exit_handler", "notify", None)
    assert spec.tasks["notify"].inputs["status"] == RunStatusRef()
    assert spec.tasks["notify"].group is None
    assert spec.tasks["notify"].depends_on == ()
    assert [spec.tasks[t].group for t in ("work", "work-2", "work-3")] == [None, "guard", "guard"]


def test_run_status_binds_to_an_any_parameter_too() -> None:
    @pipeline
    def p() -> None:
        with conveyor.ExitHandler(loose(status=conveyor.RunStatus)):
            work()

    assert built(p).tasks["loose"].inputs["status"] == RunStatusRef()


def test_exit_handlers_nest_and_a_handler_may_sit_inside_another_block() -> None:
    @pipeline
    def p() -> None:
        with conveyor.ExitHandler(notify(status=conveyor.RunStatus)):
            inner = notify(status=conveyor.RunStatus, channel="team")
            with conveyor.ExitHandler(inner, name="inner-guard"):
                work()

    spec = built(p)
    assert spec.groups["inner-guard"].parent == "exit-handler-1"
    assert spec.groups["inner-guard"].handler_task == "notify-2"
    assert spec.tasks["notify-2"].group == "exit-handler-1"


def test_exit_task_created_inside_its_handler_block_is_an_error(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        with conveyor.ExitHandler(work()):
            notify(status=conveyor.RunStatus)  # line: inside

    error = definition_error(p)
    message = str(error)
    assert "takes conveyor.RunStatus but was created inside the ExitHandler block" in message
    assert "Create the exit task before the block" in message
    points_at(error, "inside")


def test_run_status_for_a_task_that_handles_no_exit_is_an_error(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        notify(status=conveyor.RunStatus)  # line: orphan
        work()

    error = definition_error(p)
    assert "takes conveyor.RunStatus but is not the exit task of a conveyor.ExitHandler" in str(
        error
    )
    points_at(error, "orphan")


def test_run_status_needs_a_dict_parameter(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        wrong(status=conveyor.RunStatus)  # line: string

    error = definition_error(p)
    assert "input 'status' gets conveyor.RunStatus, a JSON object" in str(error)
    points_at(error, "string")


def test_exit_task_taking_data_from_inside_its_block_is_an_error(points_at: Check) -> None:
    @pipeline
    def p() -> None:
        handler = notify(status=conveyor.RunStatus)
        with conveyor.ExitHandler(handler):  # line: handler
            w = work()
        handler.after(w)

    error = definition_error(p)
    assert "The exit task 'notify' of ExitHandler 'exit-handler-1' takes data from" in str(error)
    assert "['work']" in str(error)
    points_at(error, "handler")


def test_exit_task_created_in_another_block_is_an_error() -> None:
    @pipeline
    def p(go: bool = True) -> None:
        with conveyor.If(go):
            handler = notify(status=conveyor.RunStatus)
        with conveyor.ExitHandler(handler):
            work()

    assert "Exit task 'notify' was created inside block 'condition-1'" in str(definition_error(p))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (lambda h: conveyor.ExitHandler("notify"), "takes the exit task"),
        (lambda h: conveyor.ExitHandler(h).__enter__(), "already the exit task"),
    ],
    ids=["not-a-task", "handler-twice"],
)
def test_exit_handler_misuse_is_an_error(body: Any, message: str) -> None:
    @pipeline
    def p() -> None:
        handler = notify(status=conveyor.RunStatus)
        with conveyor.ExitHandler(handler):
            work()
        body(handler)

    assert message in str(definition_error(p))


def test_empty_exit_handler_block_is_an_error() -> None:
    @pipeline
    def p() -> None:
        with conveyor.ExitHandler(notify(status=conveyor.RunStatus)):
            pass

    assert "A conveyor.ExitHandler block created no tasks" in str(definition_error(p))
