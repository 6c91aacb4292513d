"""Which threads make the worker pool spawn instead of fork."""

from __future__ import annotations

import io
import threading

from rich.console import Console
from rich.live import Live

from conveyor.orchestrator.workers import _python_threads


def _with_thread(name: str) -> list[str]:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name=name, daemon=True)
    thread.start()
    try:
        return _python_threads()
    finally:
        stop.set()
        thread.join()


def test_python_threads_names_a_user_thread():
    assert "user-poller" in _with_thread("user-poller")


def test_python_threads_ignores_the_agent_watchdog():
    assert "conveyor-agent-watchdog" not in _with_thread("conveyor-agent-watchdog")


def test_python_threads_ignores_the_live_progress_view():
    console = Console(file=io.StringIO(), force_terminal=True)
    before = set(_python_threads())
    with Live("x", console=console, refresh_per_second=4):
        assert set(_python_threads()) == before


def test_python_threads_names_the_main_thread_when_called_from_another():
    found: list[str] = []
    caller = threading.Thread(target=lambda: found.extend(_python_threads()), name="driver")
    caller.start()
    caller.join()
    assert threading.main_thread().name in found
