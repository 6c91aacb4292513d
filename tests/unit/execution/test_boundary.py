"""The error boundary around user code."""

from __future__ import annotations

import sys
import time

import pytest

from conveyor.errors import ArtifactError, ComponentError, TaskTimeoutError
from conveyor.execution.boundary import call_user_code, format_user_traceback


def test_user_exception_becomes_component_error_with_cause():
    def bad() -> None:
        raise KeyError("missing column")

    with pytest.raises(ComponentError, match="Task 't' failed: KeyError") as info:
        call_user_code(bad, {}, task="t", run_id="r")
    assert isinstance(info.value.__cause__, KeyError)
    assert info.value.task == "t" and info.value.run_id == "r"
    assert "in bad" in format_user_traceback(info.value)
    assert "conveyor/execution/boundary.py" not in format_user_traceback(info.value)


def test_a_refusal_raised_wholly_inside_conveyor_has_no_traceback():
    from conveyor.data.csv_options import CsvOptions

    with pytest.raises(ComponentError, match="skip_rows must be 0 or more") as info:
        call_user_code(CsvOptions.create, {"skip_rows": -1}, task="t")
    assert format_user_traceback(info.value) is None


def test_a_value_error_of_the_users_code_keeps_its_traceback():
    def refuse() -> None:
        raise ValueError("user says no")

    with pytest.raises(ComponentError) as info:
        call_user_code(refuse, {}, task="t")
    assert "in refuse" in (format_user_traceback(info.value) or "")


def test_sys_exit_is_a_failure_not_an_exit():
    with pytest.raises(ComponentError, match=r"called sys.exit\(4\)"):
        call_user_code(lambda: sys.exit(4), {}, task="t")


def test_conveyor_errors_pass_through_unchanged():
    def bad() -> None:
        raise ArtifactError("disk full")

    with pytest.raises(ArtifactError, match="disk full"):
        call_user_code(bad, {}, task="t")


def test_keyboard_interrupt_passes_through():
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        call_user_code(interrupted, {}, task="t")


def test_timeout_stops_a_loop():
    def spin() -> None:
        while True:
            time.sleep(0.01)

    start = time.monotonic()
    with pytest.raises(TaskTimeoutError, match=r"ran past its timeout of 0\.2 s"):
        call_user_code(spin, {}, task="t", timeout=0.2)
    assert time.monotonic() - start < 5


def test_return_value_and_kwargs():
    assert call_user_code(lambda a, b: a + b, {"a": 1, "b": 2}, task="t") == 3
