"""The one rule for names that become paths: what it accepts, what it refuses and why."""

from __future__ import annotations

import pytest

from conveyor._internal.names import MAX_NAME_BYTES, name_problem


@pytest.mark.parametrize(
    "name",
    ["demo", "penguins-quickstart", "train.v2", "step_2", "2024-05-01", "données", "x" * 128],
)
def test_name_rule_accepts_plain_names(name: str) -> None:
    assert name_problem("task name", name) is None


@pytest.mark.parametrize(
    "name",
    ["../x", "..", ".", "/abs/path", "a/b", "a\\b", ".hidden", "-x", "a b", "", "t[0]", "a\0"],
)
def test_name_rule_refuses_names_that_are_not_one_plain_path_segment(name: str) -> None:
    problem = name_problem("run id", name)

    assert problem is not None
    assert problem.startswith(f"run id {name!r} is not a valid name")
    assert r"pattern \w[\w.-]*" in problem


def test_name_rule_refuses_a_name_over_the_byte_limit_counting_utf8_bytes() -> None:
    too_long = "é" * (MAX_NAME_BYTES // 2 + 1)  # fewer characters than the limit, more bytes

    problem = name_problem("pipeline name", too_long)

    assert problem is not None
    assert f"is too long: {MAX_NAME_BYTES + 2} bytes in UTF-8" in problem
    assert len(problem) < 300  # the value is shortened in the message


def test_name_rule_refuses_a_value_that_is_not_a_string() -> None:
    assert "is not a valid name" in (name_problem("task name", 3) or "")
