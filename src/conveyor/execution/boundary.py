"""The error boundary around user code: every user failure becomes a ComponentError."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from conveyor.errors import ComponentError, ConveyorError, TaskTimeoutError

__all__ = ["call_user_code", "format_user_traceback"]


@contextlib.contextmanager
def _deadline(seconds: float | None, task: str) -> Iterator[None]:
    """Raise TaskTimeoutError inside the user's code after ``seconds`` (main thread only;
    worker-based runners also kill the worker as a backstop)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise TaskTimeoutError(
            f"Task {task!r} ran past its timeout of {seconds:g} s and was stopped. Raise the "
            "timeout with @component(timeout=...) or task.set_timeout(...), or make it faster",
            task=task,
        )

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def call_user_code(
    func: Callable[..., Any],
    kwargs: dict[str, Any],
    *,
    task: str,
    run_id: str | None = None,
    timeout: float | None = None,
) -> Any:
    """Call ``func(**kwargs)``; user exceptions (and ``sys.exit``) become ComponentError.

    Conveyor's own errors raised from inside (e.g. a timeout) pass through unchanged;
    KeyboardInterrupt passes through so a run can be cancelled.
    """
    try:
        with _deadline(timeout, task):
            return func(**kwargs)
    except ConveyorError:
        raise
    except SystemExit as exc:
        raise ComponentError(
            f"Task {task!r}: the component called sys.exit({exc.code!r}). Raise an exception "
            "instead, or return normally",
            task=task,
            run_id=run_id,
        ) from exc
    except Exception as exc:
        raise ComponentError(
            f"Task {task!r} failed: {type(exc).__name__}: {exc}", task=task, run_id=run_id
        ) from exc


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def format_user_traceback(exc: BaseException) -> str | None:
    """The traceback of the user's exception, without Conveyor's own frames.

    None when the error is a ``ValueError`` or ``TypeError`` raised wholly inside Conveyor's
    own code: a standard component refusing a parameter or an input says what is wrong in its
    message (the project's rule for those two types), and a traceback of our frames would
    only bury it. Any other exception keeps its traceback, ours included.
    """
    cause = exc.__cause__ or exc
    raised = traceback.extract_tb(cause.__traceback__)
    if isinstance(cause, ValueError | TypeError) and all(
        os.path.abspath(f.filename).startswith(_PACKAGE) for f in raised
    ):
        return None
    frames = [f for f in raised if "/conveyor/execution/" not in f.filename.replace("\\", "/")]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    lines += traceback.format_exception_only(type(cause), cause)
    return "".join(lines)
