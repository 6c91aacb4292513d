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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conveyor.errors import ArtifactError, ArtifactNotFoundError

if TYPE_CHECKING:  # Arrow loads only to read: listing the files (a cache key) needs none
    import pyarrow as pa

    from conveyor.data.model import FeatureType, StatisticsCollection

__all__ = [
    "INPUTS",
    "LOG_SUFFIX",
    "OUTPUTS",
    "ROLES",
    "UNVERSIONED",
    "LogSelection",
    "TimeWindow",
    "is_log_file",
    "is_prediction_log_dir",
    "log_file_digests",
    "log_file_name",
    "log_files",
    "parse_time",
    "read_prediction_logs",
    "statistics_of_prediction_logs",
]

LOG_SUFFIX = ".parquet"
INPUTS = "inputs"
OUTPUTS = "outputs"
ROLES = ("primary", "canary", "shadow")
UNVERSIONED = "unversioned"
"""The version folder of a model served without a version (a trainer's model folder)."""

_DEPTH = 3  # <root>/<model>/<version>/<file>: a root, a model's or a version's folder
_NAME_SLACK = dt.timedelta(minutes=1)
"""A file is skipped when its name's time is this much past the window's end: rows are
stamped before they are queued, so one may be a little older than its file's first row."""
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


def is_prediction_log_dir(location: str) -> bool:
    """Whether ``location`` is a folder holding prediction logs as ``conveyor serve
    --log-predictions`` writes them: the log root, a model's or a version's folder.

    Example:
        >>> is_prediction_log_dir("/nonexistent")
        False
    """
    fs, base = _fs(location)
    if not fs.isdir(base):
        return False
    return any(_is_listed(base, path) for path in fs.find(base, maxdepth=_DEPTH))


def _fs(location: str) -> tuple[Any, str]:
    import fsspec

    from conveyor._internal.paths import is_remote

    if not is_remote(location):
        location = os.path.abspath(location.removeprefix("file://"))
    try:
        fs, base = fsspec.core.url_to_fs(location)
    except ImportError as exc:
        raise ArtifactError(
            f"Cannot read prediction logs at {location!r}: {exc}. Install the fsspec backend "
            "of its URL (pip install 'conveyor-ml[s3]', [gcs] or [azure])"
        ) from exc
    return fs, str(base).rstrip("/")


def _is_listed(base: str, path: str) -> bool:
    """A complete log file, not inside a hidden folder (under ``base``)."""
    parts = path[len(base) :].strip("/").split("/")
    return is_log_file(parts[-1]) and not any(p.startswith(".") for p in parts[:-1])


def log_files(location: str, *, window: TimeWindow | None = None) -> list[str]:
    """The complete log files under ``location`` (the log root, a model's or a version's
    folder; local or an fsspec URL), sorted by name, leaving out those that start well after
    ``window.until`` (their name says when).

    Raises:
        ArtifactNotFoundError: ``location`` is not a folder.
    """
    fs, base = _fs(location)
    if not fs.isdir(base):
        raise ArtifactNotFoundError(
            f"No prediction log folder at {location!r}. Give the folder conveyor serve "
            "--log-predictions writes (--log-dir, default prediction_logs under the artifact "
            "root), or one model's or version's folder in it"
        )
    found = sorted(p for p in fs.find(base, maxdepth=_DEPTH) if _is_listed(base, p))
    until = None if window is None else window.until
    if until is not None:
        last = until + _NAME_SLACK
        found = [p for p in found if (_started(p) or last) <= last]  # no time in the name: kept
    return found


def log_file_digests(location: str, *, window: TimeWindow | None = None) -> dict[str, str]:
    """A digest of each log file :func:`log_files` lists (for a cache key): its size, since a
    published log file never changes (it is written under a temporary name, then renamed);
    a new file is a new key.

    Raises:
        ArtifactNotFoundError: ``location`` is not a folder.
    """
    fs, _ = _fs(location)
    return {path: f"size:{fs.size(path)}" for path in log_files(location, window=window)}


def _started(path: str) -> dt.datetime | None:
    stamp = path.rsplit("/", 1)[-1].split("-", 1)[0]
    try:
        return dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class LogSelection:
    """Which logged rows to read: a time window, the roles (default: what clients were
    answered, ``primary`` and ``canary``; a shadow scores the same requests again), and
    optionally one model and one version (a folder may hold several)."""

    window: TimeWindow = TimeWindow()
    roles: tuple[str, ...] = ("primary", "canary")
    model: str | None = None
    version: str | None = None

    def filters(self) -> list[tuple[str, str, Any]]:
        """The row filters, in the form ``pyarrow.parquet.read_table`` takes."""
        import pyarrow as pa

        out: list[tuple[str, str, Any]] = [("role", "in", list(self.roles))]
        if self.window.since is not None:
            out.append(("timestamp", ">=", pa.scalar(self.window.since, pa.timestamp("us", "UTC"))))
        if self.window.until is not None:
            out.append(("timestamp", "<", pa.scalar(self.window.until, pa.timestamp("us", "UTC"))))
        if self.model is not None:
            out.append(("model", "=", self.model))
        if self.version is not None:
            out.append(("version", "=", self.version))
        return out


def read_prediction_logs(
    location: str, selection: LogSelection = LogSelection(), *, part: str = INPUTS
) -> Iterator[pa.Table]:
    """The logged rows under ``location`` that ``selection`` picks, one table per file, with
    the fields of ``part`` (``inputs``: the features, named as the model names them;
    ``outputs``) as columns.

    Raises:
        ArtifactNotFoundError: no log folder at ``location``.
        ArtifactError: a file cannot be read, or the folder holds the logs of several models
            and ``selection`` names none.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    fs, _ = _fs(location)
    models: set[str] = set()
    for path in log_files(location, window=selection.window):
        try:
            with fs.open(path, "rb") as fh:
                table = pq.read_table(fh, filters=selection.filters())
        except (OSError, pa.ArrowException) as exc:
            raise ArtifactError(f"Cannot read the prediction log {path!r}: {exc}") from exc
        if table.num_rows == 0 or part not in table.column_names:
            continue
        models.update(pc.unique(table.column("model")).to_pylist())
        if len(models) > 1:
            raise ArtifactError(
                f"{location!r} holds the prediction logs of several models "
                f"({', '.join(sorted(map(str, models)))}): give one model's folder, or pick "
                "one with --model"
            )
        flat = pa.Table.from_struct_array(table.column(part).combine_chunks())
        yield _expand_maps(flat) if part == OUTPUTS else flat


def _expand_maps(table: pa.Table) -> pa.Table:
    """A map column (``probabilities``) as one column per key: ``probabilities[yes]``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns: dict[str, Any] = {}
    for name in table.column_names:
        column = table.column(name)
        if not pa.types.is_map(column.type):
            columns[name] = column
            continue
        column = column.combine_chunks()
        keys = pc.unique(column.keys).to_pylist()
        for key in sorted(k for k in keys if k is not None):
            columns[f"{name}[{key}]"] = pc.map_lookup(column, pa.scalar(key), "first")
    return pa.table(columns)


def statistics_of_prediction_logs(
    location: str,
    selection: LogSelection = LogSelection(),
    *,
    split: str = "serving",
    column_types: Mapping[str, FeatureType | str] | None = None,
    part: str = INPUTS,
) -> StatisticsCollection:
    """The statistics of the model's inputs logged under ``location`` (as
    :func:`read_prediction_logs` picks them), named ``split``: the serving statistics that
    ``validate_statistics(..., serving=...)`` compares with training's to find skew. With
    ``part="outputs"``, those of its answers instead (``predictions``, and one
    ``probabilities[CLASS]`` column per class), to follow prediction drift.

    Raises:
        ArtifactNotFoundError: no log folder, or no logged row in the selection.
        ArtifactError: see :func:`read_prediction_logs`.
    """
    from conveyor.data.stats import PartialStatistics

    state = PartialStatistics(split=split, column_types=column_types)
    files = 0
    for table in read_prediction_logs(location, selection, part=part):
        state.update(table)
        files += 1
    if files == 0:
        raise ArtifactNotFoundError(
            f"No logged prediction under {location!r} {selection.window.describe()} with role "
            f"{' or '.join(selection.roles)}"
            + (f" of model {selection.model!r}" if selection.model else "")
            + (f" version {selection.version!r}" if selection.version else "")
            + ". Check the folder and the window (a server publishes a log file when it "
            "rotates, every --log-rotate-seconds, or when it stops)"
        )
    return state.to_collection()
