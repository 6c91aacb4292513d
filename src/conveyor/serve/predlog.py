"""Prediction logging: a sample of the requests a server answers, written in the background
to Parquet files under the artifact store (the layout of :mod:`conveyor.data.prediction_logs`).

:meth:`PredictionLog.record` never blocks and never raises: a request is sampled at the
configured rate, then its rows go to a bounded in-memory buffer (rows that do not fit are
dropped and counted). A background thread writes the buffer as row groups of one open file
per model and version, under a hidden temporary name, and renames the file into place when
it rotates (by size or age) or when the log closes (graceful shutdown), so readers never see
a partial file. File names carry the host and process id, so several worker processes can
log to one folder.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from conveyor._internal.paths import is_remote, segment_problem
from conveyor.data.prediction_logs import INPUTS, OUTPUTS, UNVERSIONED, log_file_name

__all__ = ["DEFAULT_MAX_BUFFERED_ROWS", "REQUEST_ID_HEADER", "PredictionLog"]

REQUEST_ID_HEADER = "x-request-id"
"""The request header whose value, when a client sends one, is the logged request id
(``X-Request-ID``), so logs join with the client's own; at most ``MAX_REQUEST_ID`` chars."""
MAX_REQUEST_ID = 128

DEFAULT_MAX_BUFFERED_ROWS = 200_000
"""Rows held in memory at most, waiting to be written; past it, rows are dropped."""
DEFAULT_ROTATE_BYTES = 64 * 1024 * 1024
DEFAULT_ROTATE_SECONDS = 300.0
DEFAULT_FLUSH_SECONDS = 1.0
_ARROW = {"FLOAT": pa.float64(), "INT": pa.int64(), "BOOL": pa.bool_()}
_WAKE_ROWS = 20_000  # the writer starts early once this many rows wait
_log = logging.getLogger(__name__)


@dataclass
class _Entry:
    timestamp: float
    request_id: str
    model: str
    version: str | None
    role: str
    rows: int
    columns: Mapping[str, Sequence[Any]]
    outputs: Mapping[str, Any]


@dataclass
class _OpenFile:
    final: str
    temporary: str
    handle: Any
    writer: pq.ParquetWriter
    schema: pa.Schema
    started: float
    rows: int = 0


@dataclass
class _Counts:
    requests_logged: int = 0
    requests_sampled_out: int = 0
    rows_logged: int = 0
    rows_dropped: int = 0
    rows_written: int = 0
    files_written: int = 0
    errors: int = 0
    last_error: str | None = field(default=None)


class PredictionLog:
    """A sampled, bounded, non-blocking log of predictions, written to Parquet in the
    background (see the module's docstring).

    Args:
        root: the log folder: a local path or an fsspec URL (``s3://bucket/logs``).
        rate: the fraction of requests logged, in (0, 1]; whole requests are sampled.
        max_buffered_rows: rows held in memory at most; more are dropped and counted.
        rotate_bytes: a file is closed and published once it holds about this many bytes.
        rotate_seconds: ... or once its first row is this old.
        flush_seconds: how often the buffer is written out as a row group.
        input_types: the signature's types by input name (``FLOAT``, ``INT``, ``BOOL``,
            ``STRING``), so that every file types a feature the same way; see
            :meth:`set_input_types`.
        seed: seeds the sampling (tests).

    Example:
        >>> log = PredictionLog("/tmp/conveyor-doc-logs", rate=1.0)
        >>> log.record(model="census", version="3", role="primary",
        ...            columns={"age": [39, 50]}, outputs={"predictions": ["<=50K", ">50K"]})
        >>> log.close()
        >>> log.counts()["rows_written"]
        2
    """

    def __init__(
        self,
        root: str,
        *,
        rate: float = 1.0,
        max_buffered_rows: int = DEFAULT_MAX_BUFFERED_ROWS,
        rotate_bytes: int = DEFAULT_ROTATE_BYTES,
        rotate_seconds: float = DEFAULT_ROTATE_SECONDS,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
        input_types: Mapping[str, str] | None = None,
        seed: int | None = None,
    ) -> None:
        if not 0 < rate <= 1:
            raise ValueError(f"The prediction log's rate must be in (0, 1], got {rate!r}")
        if max_buffered_rows < 1 or rotate_bytes < 1 or rotate_seconds <= 0 or flush_seconds <= 0:
            raise ValueError("The prediction log's bounds and intervals must be positive")
        import fsspec

        self.root = root.rstrip("/") if is_remote(root) else os.path.abspath(root)
        self._fs, self._base = fsspec.core.url_to_fs(self.root)
        self.rate = rate
        self.max_buffered_rows = max_buffered_rows
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.flush_seconds = flush_seconds
        self._types: dict[str, pa.DataType] = {}
        if input_types:
            self._types.update({k: _ARROW.get(v, pa.string()) for k, v in input_types.items()})
        self._random = random.Random(seed)
        self._host = socket.gethostname()
        self._reset()

    def _reset(self) -> None:
        """Fresh state for this process (also after a fork: the parent's files are its own)."""
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._queue: list[_Entry] = []
        self._buffered = 0
        self._wake = threading.Event()
        self._stopping = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._open: dict[str, _OpenFile] = {}
        self._sequence = 0
        self._counts = _Counts()

    def set_input_types(self, inputs: Sequence[Mapping[str, Any]]) -> None:
        """Type the logged inputs as the signature ``inputs`` (``[{"name", "type"}, ...]``,
        ``LoadedModel.signature["inputs"]``) says: a FLOAT input given as whole numbers is
        still logged as a float."""
        types = {str(i["name"]): _ARROW.get(str(i["type"]), pa.string()) for i in inputs}
        with self._lock:
            self._types = {**self._types, **types}

    def record(
        self,
        *,
        model: str,
        version: str | None,
        role: str,
        columns: dict[str, list[Any]],
        outputs: dict[str, Any],
        request_id: str | None = None,
    ) -> None:
        """Log one answered request (maybe: it is sampled), without blocking or raising.

        Args:
            model: the name the model is served under.
            version: its version (``None``: unversioned).
            role: ``"primary"``, ``"canary"`` or ``"shadow"``.
            columns: the request's inputs by feature, one value per row.
            outputs: the answer; entries holding one value per row (``predictions``,
                ``probabilities``) are logged, others ignored.
            request_id: the request's id (a fresh one when not given or empty; cut to
                ``MAX_REQUEST_ID`` characters).
        """
        try:
            if os.getpid() != self._pid:
                self._reset()
            if self.rate < 1.0 and self._random.random() >= self.rate:
                with self._lock:  # shadows and canaries may log from other threads
                    self._counts.requests_sampled_out += 1
                return
            rows = len(next(iter(columns.values()), ()))
            entry = _Entry(
                time.time(),
                (request_id or "")[:MAX_REQUEST_ID] or uuid.uuid4().hex,
                model,
                version,
                role,
                rows,
                columns,
                outputs,
            )
            with self._lock:
                if self._closed or self._buffered + rows > self.max_buffered_rows:
                    self._counts.rows_dropped += rows
                    return
                self._queue.append(entry)
                self._buffered += rows
                self._counts.requests_logged += 1
                self._counts.rows_logged += rows
                waiting = self._buffered
                if self._thread is None:
                    self._start()
            if waiting >= _WAKE_ROWS:
                self._wake.set()
        except Exception as exc:  # a log never fails a request
            self._failed(exc)

    def counts(self) -> dict[str, Any]:
        """What the log did in this process: requests logged and sampled out, rows logged,
        dropped (buffer full, closed, or a write that failed) and written, files published,
        errors and the last one."""
        with self._lock:
            c = self._counts
            return {
                "requests_logged": c.requests_logged,
                "requests_sampled_out": c.requests_sampled_out,
                "rows_logged": c.rows_logged,
                "rows_dropped": c.rows_dropped,
                "rows_written": c.rows_written,
                "files_written": c.files_written,
                "errors": c.errors,
                "last_error": c.last_error,
                "rows_buffered": self._buffered,
            }

    def prometheus(self) -> str:
        """:meth:`counts` in the Prometheus text format (appended to the server's /metrics).

        Example:
            >>> print(PredictionLog("/tmp/conveyor-doc-logs").prometheus().splitlines()[2])
            conveyor_prediction_log_rows_total{outcome="logged"} 0
        """
        c = self.counts()
        lines = [
            "# HELP conveyor_prediction_log_rows_total Predicted rows the prediction log "
            "took (logged), dropped (buffer full, or a write failed) and wrote.",
            "# TYPE conveyor_prediction_log_rows_total counter",
        ]
        for outcome in ("logged", "dropped", "written"):
            lines.append(
                f'conveyor_prediction_log_rows_total{{outcome="{outcome}"}} {c[f"rows_{outcome}"]}'
            )
        for name, kind, value, text in (
            ("requests_sampled_out_total", "counter", c["requests_sampled_out"],
             "Requests left out by the sampling rate."),
            ("files_total", "counter", c["files_written"], "Log files published."),
            ("errors_total", "counter", c["errors"], "Failures to log or write."),
            ("buffered_rows", "gauge", c["rows_buffered"], "Rows waiting to be written."),
        ):  # fmt: skip
            metric = f"conveyor_prediction_log_{name}"
            lines += [f"# HELP {metric} {text}", f"# TYPE {metric} {kind}", f"{metric} {value}"]
        return "\n".join(lines) + "\n"

    def close(self, timeout: float = 30.0) -> None:
        """Write what is buffered, publish the open files and stop the writer (idempotent)."""
        if os.getpid() != self._pid:
            return
        with self._lock:
            self._closed = True
            self._stopping = True
            thread = self._thread
        if thread is not None:
            self._wake.set()
            thread.join(timeout)

    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="conveyor-prediction-log", daemon=True
        )
        self._thread.start()
        atexit.register(self.close)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            with self._lock:
                batch, self._queue = self._queue, []
                stopping = self._stopping
            self._write(batch)
            self._rotate(force=stopping)
            if stopping:
                return

    def _write(self, batch: list[_Entry]) -> None:
        groups: dict[tuple[str, str | None], list[_Entry]] = {}
        for entry in batch:
            groups.setdefault((entry.model, entry.version), []).append(entry)
        for (model, version), entries in groups.items():
            rows = sum(e.rows for e in entries)
            try:
                folder = self._folder(model, version)
                self._append(folder, _table(entries, self._types), entries[0].timestamp)
                with self._lock:
                    self._counts.rows_written += rows
            except Exception as exc:
                self._failed(exc, rows)
            finally:
                with self._lock:
                    self._buffered -= rows

    def _failed(self, exc: Exception, rows: int = 0) -> None:
        message = f"{type(exc).__name__}: {exc}"
        with self._lock:
            first = self._counts.errors == 0
            self._counts.errors += 1
            self._counts.rows_dropped += rows
            self._counts.last_error = message
        if first:
            _log.warning("Prediction log under %s: %s (%d rows dropped)", self.root, message, rows)

    def _folder(self, model: str, version: str | None) -> str:
        parts = (model, version or UNVERSIONED)
        if any(segment_problem(p) is not None for p in parts):
            raise ValueError(
                f"the model name {model!r} or version {version!r} cannot be a folder name"
            )
        return "/".join([self._base.rstrip("/"), *parts])

    def _append(self, folder: str, table: pa.Table, first: float) -> None:
        current = self._open.get(folder)
        if current is not None and not table.schema.equals(current.schema):
            if all(_fits(f.type, current.schema.field(f.name).type) for f in table.schema) and (
                table.schema.names == current.schema.names
            ):
                table = table.cast(current.schema)  # a column of nulls, whole numbers as floats
            else:
                self._publish(folder)  # a new shape (another output, a new type): a new file
                current = None
        if current is None:
            current = self._new_file(folder, table.schema, first)
        current.writer.write_table(table)
        current.rows += table.num_rows

    def _new_file(self, folder: str, schema: pa.Schema, first: float) -> _OpenFile:
        """A file named after the time of its first row (readers skip files by it)."""
        self._fs.makedirs(folder, exist_ok=True)
        self._sequence += 1
        name = log_file_name(first, self._host, self._pid, self._sequence)
        final = f"{folder}/{name}"
        temporary = f"{folder}/.{name}.tmp"
        handle = self._fs.open(temporary, "wb")
        writer = pq.ParquetWriter(handle, schema, compression="zstd")
        opened = _OpenFile(final, temporary, handle, writer, schema, time.monotonic())
        self._open[folder] = opened
        return opened

    def _rotate(self, *, force: bool) -> None:
        now = time.monotonic()
        for folder, current in list(self._open.items()):
            size = current.handle.tell()
            if force or size >= self.rotate_bytes or now - current.started >= self.rotate_seconds:
                self._publish(folder)

    def _publish(self, folder: str) -> None:
        current = self._open.pop(folder)
        try:
            current.writer.close()
            current.handle.close()
            self._fs.mv(current.temporary, current.final)
            with self._lock:
                self._counts.files_written += 1
        except Exception as exc:
            self._failed(exc, current.rows)
            with self._lock:
                self._counts.rows_written -= current.rows


def _fits(given: pa.DataType, wanted: pa.DataType) -> bool:
    """Whether values of type ``given`` cast to ``wanted`` without changing meaning."""
    if given.equals(wanted) or pa.types.is_null(given):
        return True
    if pa.types.is_integer(given) and pa.types.is_floating(wanted):
        return True
    if pa.types.is_struct(given) and pa.types.is_struct(wanted):
        names = [given.field(i).name for i in range(given.num_fields)]
        if names != [wanted.field(i).name for i in range(wanted.num_fields)]:
            return False
        return all(_fits(given.field(i).type, wanted.field(i).type) for i in range(len(names)))
    return False


def _arrow(values: list[Any], type_: pa.DataType | None) -> pa.Array:
    if type_ is not None:
        try:
            return pa.array(values, type=type_)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            pass
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        return pa.array([None if v is None else json.dumps(v, default=str) for v in values])


def _output(values: list[Any]) -> pa.Array:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, dict) for v in present):
        try:
            pairs = [
                None if v is None else [(str(k), float(x)) for k, x in v.items()] for v in values
            ]
            return pa.array(pairs, type=pa.map_(pa.string(), pa.float64()))
        except (TypeError, ValueError, pa.ArrowInvalid):
            return _arrow([None if v is None else json.dumps(v, default=str) for v in values], None)
    return _arrow(values, None)


def _table(entries: list[_Entry], types: Mapping[str, pa.DataType]) -> pa.Table:
    """One table of the rows of ``entries`` (one model and version)."""
    inputs: dict[str, list[Any]] = {}
    outputs: dict[str, list[Any]] = {}
    done = 0
    for e in entries:
        for store, given in ((inputs, e.columns), (outputs, e.outputs)):
            for name, values in given.items():
                if store is outputs and (not isinstance(values, list) or len(values) != e.rows):
                    continue  # not one value per row (the model's name, a version, ...)
                column = store.setdefault(name, [None] * done)
                column.extend(values)
            for column in store.values():
                column.extend([None] * (done + e.rows - len(column)))
        done += e.rows
    meta = {
        "timestamp": pa.array(
            [int(e.timestamp * 1_000_000) for e in entries for _ in range(e.rows)],
            type=pa.timestamp("us", tz="UTC"),
        ),
        "request_id": pa.array([e.request_id for e in entries for _ in range(e.rows)]),
        "row": pa.array([i for e in entries for i in range(e.rows)], type=pa.int32()),
        "model": pa.array([e.model for e in entries for _ in range(e.rows)]),
        "version": pa.array([e.version for e in entries for _ in range(e.rows)], type=pa.string()),
        "role": pa.array([e.role for e in entries for _ in range(e.rows)]),
    }
    table: dict[str, pa.Array] = dict(meta)
    if inputs:  # Parquet has no struct without fields
        table[INPUTS] = _struct({k: _arrow(v, types.get(k)) for k, v in inputs.items()})
    if outputs:
        table[OUTPUTS] = _struct({k: _output(v) for k, v in outputs.items()})
    return pa.table(table)


def _struct(fields: dict[str, pa.Array]) -> pa.Array:
    return pa.StructArray.from_arrays(list(fields.values()), names=list(fields))
