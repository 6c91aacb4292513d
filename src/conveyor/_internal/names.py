"""The one rule for names that become parts of paths and URIs: pipelines, components, tasks,
artifact outputs and runs.

A pipeline's artifacts live at ``<root>/<pipeline>/<run id>/<task>.<execution>/<output>`` and
its logs at ``<home>/logs/<run id>/<task>.log``, so each of those names must be one harmless
path segment: no separator, not ``.`` or ``..``, short enough for any file system once Conveyor
adds its suffixes (``.partial-<id>``, ``.log``, ``[i]`` for loop iterations).
"""

from __future__ import annotations

import re

__all__ = ["MAX_NAME_BYTES", "NAME_PATTERN", "NAME_RULE", "name_problem"]

MAX_NAME_BYTES = 128
"""Longest name in UTF-8 bytes: file names are limited to 255 bytes, and Conveyor appends up to
about 60 (``.partial-<id>``, an execution id, ``[i]`` per loop level)."""

NAME_PATTERN = r"\w[\w.-]*"
"""A letter, digit or ``_`` (any script), then letters, digits, ``_``, ``-`` and ``.``."""

NAME_RULE = (
    f"letters, digits, '_', '-' and '.', starting with a letter, digit or '_' "
    f"(pattern {NAME_PATTERN}), at most {MAX_NAME_BYTES} bytes in UTF-8"
)

_NAME = re.compile(NAME_PATTERN)


def _shown(value: str) -> str:
    return repr(value) if len(value) <= 60 else repr(value[:40]) + f"... ({len(value)} characters)"


def name_problem(kind: str, value: object) -> str | None:
    """Why ``value`` cannot be a ``kind`` name (``"run id"``, ``"task name"``...), or None.

    The text names the value and the rule; callers raise it in their own error type and may
    add how to fix it.

    Example:
        >>> name_problem("run id", "nightly-2024.05_a") is None
        True
        >>> name_problem("run id", "../x").split(":")[0]
        "run id '../x' is not a valid name"
    """
    if not isinstance(value, str):
        return f"{kind} {value!r} is not a valid name: it must be a string of {NAME_RULE}"
    if not _NAME.fullmatch(value):
        return f"{kind} {_shown(value)} is not a valid name: use {NAME_RULE}"
    size = len(value.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        return (
            f"{kind} {_shown(value)} is too long: {size} bytes in UTF-8, names are at most "
            f"{MAX_NAME_BYTES} (file names are limited to 255 bytes). Use a shorter name"
        )
    return None
