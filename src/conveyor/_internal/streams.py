"""Text streams over raw file descriptors (for forked processes that take over stdio), and
standard output that survives its reader going away."""

from __future__ import annotations

import io
import os
from typing import Any, TextIO

__all__ = ["fd_stream", "pipe_safe"]


def fd_stream(fd: int, mode: str = "w") -> TextIO:
    """A UTF-8 text stream on ``fd`` (line-buffered when writing) that never closes it."""
    raw = io.FileIO(fd, "w" if "w" in mode else "r", closefd=False)
    if "w" in mode:
        return io.TextIOWrapper(
            io.BufferedWriter(raw), encoding="utf-8", errors="replace", line_buffering=True
        )
    return io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8", errors="replace")


class _PipeSafe:
    """A text stream that goes quiet, instead of raising, once its reader is gone."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def _silence(self) -> None:
        # Later writes, and the interpreter's last flush at exit, go nowhere: no
        # "Exception ignored ... BrokenPipeError" and no exit code 120.
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)
        except (OSError, ValueError, io.UnsupportedOperation):
            pass

    def write(self, s: str) -> int:
        try:
            return self._stream.write(s)
        except BrokenPipeError:
            self._silence()
            return len(s)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._silence()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def pipe_safe(stream: TextIO) -> TextIO:
    """``stream``, but a reader that went away (``conveyor run ... | head -1``) silences it
    instead of raising ``BrokenPipeError``: output is never a reason for a command to fail.

    Example:
        >>> import sys
        >>> out = pipe_safe(sys.stdout)
        >>> pipe_safe(out) is out
        True
    """
    if isinstance(stream, _PipeSafe):
        return stream
    return _PipeSafe(stream)  # type: ignore[return-value]
