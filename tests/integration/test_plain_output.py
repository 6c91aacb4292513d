"""Output that is not a terminal is written without Rich, and is exactly what Rich writes there."""

from __future__ import annotations

import io
import os
import pty
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rich.console import Console

from conveyor.cli.render import ConsoleReporter, PlainConsole, rich_would_be_plain, run_console
from conveyor.orchestrator import RunReporter

_ENV = ("TTY_COMPATIBLE", "FORCE_COLOR")


@pytest.fixture
def terminal() -> Iterator[io.TextIOWrapper]:
    """A real terminal: the follower end of a pseudo-terminal."""
    leader, follower = pty.openpty()
    stream = open(follower, "w", encoding="utf-8")  # noqa: SIM115
    try:
        yield stream
    finally:
        stream.close()
        os.close(leader)


@pytest.mark.parametrize("tty_compatible", [None, "", "0", "1", "yes"])
@pytest.mark.parametrize("force_color", [None, "", "1", "0"])
@pytest.mark.parametrize("kind", ["pipe", "terminal", "closed", "no-isatty"])
def test_plain_exactly_when_rich_sees_no_terminal(
    monkeypatch: pytest.MonkeyPatch,
    terminal: io.TextIOWrapper,
    tty_compatible: str | None,
    force_color: str | None,
    kind: str,
) -> None:
    for name, value in zip(_ENV, (tty_compatible, force_color), strict=True):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    stream: Any
    if kind == "terminal":
        stream = terminal
    elif kind == "pipe":
        read_end, write_end = os.pipe()
        os.close(read_end)
        stream = open(write_end, "w", encoding="utf-8")  # noqa: SIM115
    elif kind == "closed":
        stream = io.StringIO()
        stream.close()
    else:
        stream = type("Sink", (), {"write": lambda self, s: len(s), "flush": lambda self: None})()
    rich_terminal = Console(file=stream).is_terminal
    # never plain where Rich would see a terminal; plain wherever Rich would not (this shell's
    # stdin is no IDLE and this no Jupyter, Rich's other two reasons to say no)
    assert rich_would_be_plain(stream) == (not rich_terminal)
    if kind == "pipe":
        stream.close()


class _Both(RunReporter):
    """Hands every event to two reporters."""

    def __init__(self, *reporters: RunReporter) -> None:
        self.reporters = reporters

    def before_run(self, *args: Any) -> None:
        for r in self.reporters:
            r.before_run(*args)

    def before_task(self, *args: Any) -> None:
        for r in self.reporters:
            r.before_task(*args)

    def after_task(self, *args: Any) -> None:
        for r in self.reporters:
            r.after_task(*args)

    def task_log(self, *args: Any) -> None:
        for r in self.reporters:
            r.task_log(*args)

    def after_run(self, *args: Any) -> None:
        for r in self.reporters:
            r.after_run(*args)


def test_a_run_prints_the_same_lines_with_and_without_rich(
    monkeypatch: pytest.MonkeyPatch, load: Callable[[str], Any], run_pipeline: Callable[..., Any]
) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    basic = load("basic")
    plain_out, rich_out = io.StringIO(), io.StringIO()
    plain = ConsoleReporter(PlainConsole(plain_out))
    rich = ConsoleReporter(Console(file=rich_out, highlight=False))
    assert plain.plain and rich.plain
    both = _Both(plain, rich)
    # a step that logs, a computed run, the same again from the cache, and a failed step
    run_pipeline(basic.demo, reporter=both)
    run_pipeline(basic.demo, reporter=both)
    failed = run_pipeline(basic.branches, {"fail": True}, reporter=both)
    assert failed.state == "FAILED"
    text = plain_out.getvalue()
    assert "ingested 11 chars" in text and "(from cache)" in text and "asked to fail" in text
    assert text == rich_out.getvalue()


def test_run_console_needs_no_rich_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert isinstance(run_console(), PlainConsole)
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert isinstance(run_console(), Console)
