"""Capture a step's output (file-descriptor level) into its log file and forward it."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable, Iterator
from typing import TextIO

from conveyor._internal.streams import fd_stream

__all__ = ["LogTail", "capture_fds", "tee_python_streams"]


@contextlib.contextmanager
def capture_fds(log_path: str) -> Iterator[None]:
    """Point fds 1 and 2 (Python, C extensions, child processes) at ``log_path``.

    The kernel writes straight to the file, so nothing is lost if the process crashes; the
    orchestrator tails the file to show the lines on the console.
    """
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    saved = os.dup(1), os.dup(2)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    # The Python streams may not be fds 1/2 (pytest, notebooks replace them): point them there.
    py_streams = sys.stdout, sys.stderr
    sys.stdout = fd_stream(1)
    sys.stderr = fd_stream(2)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        sys.stdout, sys.stderr = py_streams
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


class LogTail:
    """Follow a growing log file and hand new text to a callback."""

    def __init__(self, path: str, forward: Callable[[str], None]):
        self.path = path
        self.forward = forward
        self.offset = 0

    def poll(self) -> None:
        """Forward whatever was appended since the last poll."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return
        if data:
            self.offset += len(data)
            self.forward(data.decode("utf-8", "replace"))


class _Tee(io.TextIOBase):
    """Writes to every stream; a stream that fails (a closed pipe or terminal) is dropped, so a
    step's print never fails the step: output is never a reason for a run to fail."""

    def __init__(self, *streams: TextIO):
        self._streams = list(streams)

    def _each(self, act: Callable[[TextIO], object]) -> None:
        for stream in list(self._streams):
            try:
                act(stream)
            except (OSError, ValueError):  # ValueError: the stream was closed
                self._streams.remove(stream)

    def write(self, s: str) -> int:
        self._each(lambda stream: stream.write(s))
        return len(s)

    def flush(self) -> None:
        self._each(lambda stream: stream.flush())


@contextlib.contextmanager
def tee_python_streams(log_path: str, forward: Callable[[str], None] | None) -> Iterator[None]:
    """In-process variant: copy Python-level stdout/stderr writes to ``log_path`` too."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as log:

        class _Forward(io.TextIOBase):
            def write(self, s: str) -> int:
                if forward is not None:
                    forward(s)
                return len(s)

        sink: TextIO = _Forward() if forward is not None else sys.stdout  # type: ignore[assignment]
        err_sink: TextIO = _Forward() if forward is not None else sys.stderr  # type: ignore[assignment]
        with (
            contextlib.redirect_stdout(_Tee(log, sink)),
            contextlib.redirect_stderr(_Tee(log, err_sink)),
        ):
            yield
