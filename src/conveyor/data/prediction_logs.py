"""Prediction logs: the Parquet layout ``conveyor serve --log-predictions`` writes, and the
reader that turns a log folder (over a time window) into tables of the model's inputs, so
their statistics can be checked for training/serving skew.

A log folder holds one folder per model and version (``<root>/<model>/<version>/``, the
version ``unversioned`` for a model folder without one). Each file is named
``<UTC start>-<host>-<pid>-<sequence>.parquet`` (unique per process) and holds one row per
predicted row: ``timestamp`` (UTC), ``request_id``, ``row`` (its place in the request),
``model``, ``version``, ``role`` (``primary``, ``canary`` or ``shadow``), the struct
``inputs`` (the features as the request gave them, typed by the model's signature) and the
struct ``outputs`` (``predictions``, ``probabilities`` as a map of class to probability).
Files are written under a hidden temporary name (``.<name>.tmp``) and renamed when complete,
so a reader never sees a partial file.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass

__all__ = [
    "INPUTS",
    "LOG_SUFFIX",
    "OUTPUTS",
    "ROLES",
    "UNVERSIONED",
    "TimeWindow",
    "is_log_file",
    "log_file_name",
    "parse_time",
]

LOG_SUFFIX = ".parquet"
INPUTS = "inputs"
OUTPUTS = "outputs"
ROLES = ("primary", "canary", "shadow")
UNVERSIONED = "unversioned"
"""The version folder of a model served without a version (a trainer's model folder)."""

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def log_file_name(start: float, host: str, pid: int, sequence: int) -> str:
    """The name of a log file whose first row was logged at ``start`` (Unix seconds) by
    process ``pid`` on ``host`` (its dashes made underscores, so the name splits on them):
    unique per process, and sorted by start time.

    Example:
        >>> log_file_name(1765130400.25, "web-1", 4242, 3)
        '20251207T180000.250000Z-web_1-4242-000003.parquet'
    """
    stamp = dt.datetime.fromtimestamp(start, dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    safe_host = re.sub(r"[^A-Za-z0-9.]+", "_", host)[:64] or "host"
    return f"{stamp}-{safe_host}-{pid}-{sequence:06d}{LOG_SUFFIX}"


def is_log_file(name: str) -> bool:
    """Whether ``name`` (a file name) is a complete log file: temporary files being written
    start with a dot and never count.

    Example:
        >>> is_log_file("20251207T180000.250000Z-web-1-4242-000003.parquet")
        True
        >>> is_log_file(".20251207T180000.250000Z-web-1-4242-000003.parquet.tmp")
        False
    """
    return name.endswith(LOG_SUFFIX) and not name.startswith((".", "_"))


def parse_time(text: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """A point in time from ``text``: an ISO 8601 date or time (UTC unless it says otherwise),
    or a duration before ``now`` such as ``30m``, ``2h``, ``7d`` or ``1w``.

    Raises:
        ValueError: ``text`` is neither, with the forms accepted.

    Example:
        >>> now = dt.datetime(2026, 12, 7, 18, 0, tzinfo=dt.UTC)
        >>> parse_time("2h", now=now).isoformat()
        '2026-12-07T16:00:00+00:00'
        >>> parse_time("2026-12-01").isoformat()
        '2026-12-01T00:00:00+00:00'
    """
    value = text.strip()
    match = _DURATION.fullmatch(value)
    if match:
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        return (now or dt.datetime.now(dt.UTC)) - dt.timedelta(seconds=seconds)
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"Cannot read the time {text!r}: give an ISO 8601 date or time "
            "(2026-12-07, 2026-12-07T18:00:00Z) or a duration back from now (30m, 2h, 7d, 1w)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class TimeWindow:
    """Rows logged at or after ``since`` and before ``until`` (``None``: unbounded)."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError(
                f"The time window is empty: since {self.since.isoformat()} is not before "
                f"until {self.until.isoformat()}"
            )

    def describe(self) -> str:
        """The window in words (for reports and errors).

        Example:
            >>> TimeWindow().describe()
            'any time'
        """
        parts = []
        if self.since is not None:
            parts.append(f"since {self.since.isoformat()}")
        if self.until is not None:
            parts.append(f"until {self.until.isoformat()}")
        return " ".join(parts) or "any time"


def _log_files(location: str) -> list[str]:
    """Every complete log file under ``location`` (a local folder), sorted."""
    found: list[str] = []
    for folder, dirs, files in os.walk(location):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(folder, f) for f in sorted(files) if is_log_file(f))
    return found
