"""Text streams over raw file descriptors (for forked processes that take over stdio)."""

from __future__ import annotations

import io
from typing import TextIO

__all__ = ["fd_stream"]


def fd_stream(fd: int, mode: str = "w") -> TextIO:
    """A UTF-8 text stream on ``fd`` (line-buffered when writing) that never closes it."""
    raw = io.FileIO(fd, "w" if "w" in mode else "r", closefd=False)
    if "w" in mode:
        return io.TextIOWrapper(
            io.BufferedWriter(raw), encoding="utf-8", errors="replace", line_buffering=True
        )
    return io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8", errors="replace")
