"""Experiment tracking from scripts and notebooks: metrics and parameters of a tracked run.

Every call is cheap (about a microsecond): metric values go to an in-memory buffer that a
background thread writes to the metadata store in batches, one transaction per batch (every
``batch_size`` values or ``flush_interval`` seconds, and when the run ends). A store that fails
never raises into the training loop: the failure is logged once and the values are kept for the
next flush.

Example:
    >>> import conveyor
    >>> run = conveyor.start_run("sweep", experiment="lr", params={"lr": 0.1})  # doctest: +SKIP
    >>> with run:  # doctest: +SKIP
    ...     for step in range(100):
    ...         run.log_metric("loss", 1 / (step + 1), step)

Without ``start_run``, the module-level functions log to an implicit run started on first use
and ended when the interpreter exits::

    conveyor.log_params({"lr": 0.1})
    conveyor.log_metric("loss", 0.25, step=3)
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import socket
import sys
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from conveyor.errors import ConveyorError
from conveyor.execution.context import current_task, log_task_metric
from conveyor.metadata import CONTEXT_EXPERIMENT, CONTEXT_RUN, MetadataStore
from conveyor.metadata.entities import MetricRecord
from conveyor.metadata.runs import METRICS

__all__ = ["TrackedRun", "end_run", "log_metric", "log_metrics", "log_params", "start_run"]

_log = logging.getLogger("conveyor.tracking")

DEFAULT_BATCH_SIZE = 5000
"""Values buffered before the background thread is woken to write them."""

DEFAULT_FLUSH_INTERVAL = 2.0
"""Seconds between background writes of whatever is buffered."""

RUNNING, COMPLETE, FAILED = "RUNNING", "COMPLETE", "FAILED"

_Pending = tuple[str, float, int, float]  # (name, value, step, timestamp)


def _metric_value(name: object, value: object) -> float:
    if not isinstance(name, str) or not name:
        raise ValueError(f"A metric name must be a non-empty string, got {name!r}.")
    if isinstance(value, str | bytes | bool):
        raise TypeError(f"Metric {name!r} must be a number, got {type(value).__name__} {value!r}.")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(
            f"Metric {name!r} must be a number, got {type(value).__name__} {value!r}."
        ) from None
    if not math.isfinite(number):
        raise ValueError(
            f"Metric {name!r} is {number!r}; metrics must be finite numbers. A NaN or inf "
            "usually means training diverged: check the learning rate or the loss."
        )
    return number


class TrackedRun:
    """A run recorded in the metadata store as a ``conveyor.PipelineRun`` context.

    Create one with :func:`start_run`. Use it as a context manager: the run ends COMPLETE,
    or FAILED when the block raises. Its metrics appear in ``conveyor runs compare``.

    Example:
        >>> with start_run(metadata=connect("sqlite://")) as run:  # doctest: +SKIP
        ...     run.log_metric("loss", 0.5)
    """

    def __init__(
        self,
        metadata: MetadataStore,
        *,
        run_id: str,
        context_id: int,
        params: Mapping[str, Any],
        started: float,
        owns_store: bool,
        batch_size: int,
        flush_interval: float,
    ) -> None:
        self.run_id = run_id
        self.context_id = context_id
        self._metadata = metadata
        self._owns_store = owns_store
        self._started = started
        self._batch_size = batch_size
        self._params = dict(params)
        self._params_dirty = False
        self._next_step: dict[str, int] = {}
        self._last: dict[str, tuple[int, float]] = {}  # name -> (step, value) of its last step
        self._last_dirty = False
        self._buffer: list[_Pending] = []
        self._lock = threading.Lock()  # guards _buffer, _params and _next_step
        self._flush_lock = threading.Lock()  # one writer at a time, batches in order
        self._warned = False
        self.ended = False
        self._interval = flush_interval
        _writer.add(self)

    def __repr__(self) -> str:
        return f"TrackedRun({self.run_id!r})"

    # --- logging ----------------------------------------------------------------------------
    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        """Record one value of a metric; ``step`` defaults to the metric's previous step + 1.

        Raises:
            ValueError: the value is NaN or infinite, or the name is empty.
            TypeError: the value is not a number.
        """
        number = _metric_value(name, value)
        now = time.time()
        with self._lock:
            if self.ended:
                raise ConveyorError(
                    f"Run {self.run_id!r} has ended; start another with conveyor.start_run()."
                )
            if step is None:
                step = self._next_step.get(name, 0)
            self._next_step[name] = step + 1
            last = self._last.get(name)
            if last is None or step >= last[0]:
                self._last[name] = (step, number)
                self._last_dirty = True
            self._buffer.append((name, number, step, now))
            full = len(self._buffer) >= self._batch_size
        if full:
            _writer.wake.set()

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Record several metrics at once (all values are checked before any is kept)."""
        values = {name: _metric_value(name, value) for name, value in metrics.items()}
        for name, number in values.items():
            self.log_metric(name, number, step)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Merge parameters into the run's ``parameters`` (written with the next flush).

        Raises:
            TypeError: a value cannot be stored as JSON.
        """
        try:
            json.dumps(dict(params), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"Parameters must be JSON values (str, number, list...): {exc}"
            ) from None
        with self._lock:
            self._params.update(params)
            self._params_dirty = True
        _writer.wake.set()

    # --- writing ----------------------------------------------------------------------------
    def flush(self) -> bool:
        """Write everything buffered now; return whether it was all written.

        Never raises for a store failure: the values stay buffered for the next flush.
        """
        return self._flush(None)

    def _flush(self, final: dict[str, Any] | None) -> bool:
        """Write the buffer (one transaction), then the parameters and ``final`` properties
        (one more, only when there are any)."""
        with self._flush_lock:
            with self._lock:
                pending, self._buffer = self._buffer, []
                params = dict(self._params) if self._params_dirty else None
                self._params_dirty = False
                last = {n: v for n, (_, v) in self._last.items()} if self._last_dirty else None
                self._last_dirty = False
            try:
                props = dict(final or {})
                if params is not None:
                    props["parameters"] = params
                if last is not None:  # the final values, as a pipeline run records them
                    props[METRICS] = last
                if pending or props:
                    # values and the run's properties in ONE transaction
                    cid = self.context_id
                    self._metadata.log_metrics(
                        [MetricRecord(cid, None, n, v, s, t) for n, v, s, t in pending],
                        context_properties=(cid, props) if props else None,
                    )
                    pending = []
            except Exception as exc:  # the training loop must go on: keep and retry later
                with self._lock:
                    self._buffer[:0] = pending
                    self._params_dirty = self._params_dirty or params is not None
                    self._last_dirty = self._last_dirty or last is not None
                self._warn(f"could not write {len(pending)} metric values ({exc})")
                return False
        return True

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            _log.warning(
                "conveyor tracking: run %r: %s; keeping them to retry (warned once).",
                self.run_id,
                message,
            )

    def end(self, state: str = COMPLETE) -> None:
        """Stop the background writer, write what is buffered and record the final state.

        Safe to call twice; never raises for a store failure (it is logged).
        """
        with self._lock:
            if self.ended:
                return
            self.ended = True
        _writer.remove(self)  # _flush_lock orders a background write in progress before ours
        finished = time.time()
        final = {
            "state": state,
            "finished_at": finished,
            "duration_seconds": finished - self._started,
        }
        written = self._flush(final) or self._flush(final)
        if not written:
            _log.warning(
                "conveyor tracking: run %r ended with %d metric values not written.",
                self.run_id,
                len(self._buffer),
            )
        if self._owns_store:
            self._metadata.close()
        global _active
        with _active_lock:
            if _active is self:
                _active = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.end(COMPLETE if exc_type is None else FAILED)


class _Writer:
    """The one background thread that writes the buffers of every live run, in batches.

    Shared by all runs (a thread per run would cost a thread start and a switch per run);
    started on first use and again after ``os.fork`` (the child has no threads).
    """

    def __init__(self) -> None:
        self.wake = threading.Event()
        self._runs: set[TrackedRun] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, run: TrackedRun) -> None:
        with self._lock:
            self._runs.add(run)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="conveyor-tracking", daemon=True
                )
                self._thread.start()
        self.wake.set()  # recompute the interval with this run's

    def remove(self, run: TrackedRun) -> None:
        with self._lock:
            self._runs.discard(run)

    def _loop(self) -> None:
        while True:
            with self._lock:
                interval = min((r._interval for r in self._runs), default=DEFAULT_FLUSH_INTERVAL)
            self.wake.wait(interval)
            self.wake.clear()
            with self._lock:
                runs = list(self._runs)
            for run in runs:
                if not run.ended:
                    run.flush()


_writer = _Writer()

# --- the active run ---------------------------------------------------------------------------
_active: TrackedRun | None = None
_active_lock = threading.RLock()
_atexit_registered = False


def start_run(
    name: str | None = None,
    *,
    experiment: str | None = None,
    params: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    metadata: MetadataStore | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    flush_interval: float = DEFAULT_FLUSH_INTERVAL,
) -> TrackedRun:
    """Start a tracked run and make it the active run of the module-level functions.

    Args:
        name: what the run is (default: the script's name); also the prefix of its id.
        experiment: group the run under this experiment.
        params: the run's parameters (more with ``log_params``).
        run_id: use this id instead of a generated one.
        metadata: the store to write to (default: the one the settings name,
            ``CONVEYOR_HOME`` / ``CONVEYOR_METADATA_URL``; it is closed when the run ends).
        batch_size: buffered values that wake the background writer.
        flush_interval: seconds between background writes.

    Returns:
        The run; use it as a context manager, or call ``end_run()``.

    Raises:
        ConveyorError: another run is active (end it first), or ``run_id`` exists.
        StoreError: the store cannot be opened.

    Example:
        >>> with start_run("baseline", params={"C": 1.0}) as run:  # doctest: +SKIP
        ...     run.log_metric("accuracy", 0.91)
    """
    global _active, _atexit_registered
    if batch_size < 1 or flush_interval <= 0:
        raise ValueError(
            f"batch_size must be >= 1 and flush_interval > 0, got {batch_size!r}, "
            f"{flush_interval!r}."
        )
    with _active_lock:
        if _active is not None:
            raise ConveyorError(
                f"Run {_active.run_id!r} is still active; call conveyor.end_run() before "
                "starting another."
            )
        owns = metadata is None
        if metadata is None:
            from conveyor.config import Settings
            from conveyor.metadata import connect

            metadata = connect(Settings.load().metadata_url)
        try:
            found = _open(metadata, name, experiment, dict(params or {}), run_id, owns)
            run = TrackedRun(
                metadata, **found, batch_size=batch_size, flush_interval=flush_interval
            )
        except BaseException:
            if owns:
                metadata.close()
            raise
        _active = run
        if not _atexit_registered:
            atexit.register(_end_at_exit)
            _atexit_registered = True
        return run


def _open(
    metadata: MetadataStore,
    name: str | None,
    experiment: str | None,
    params: dict[str, Any],
    run_id: str | None,
    owns: bool,
) -> dict[str, Any]:
    """Record the run's contexts; return the keyword arguments of its TrackedRun."""
    from conveyor.execution.runs import new_run_id

    label = name or os.path.splitext(os.path.basename(sys.argv[0] or ""))[0] or "python"
    run_id = run_id or new_run_id(label)
    if metadata.find_context(CONTEXT_RUN, run_id) is not None:
        raise ConveyorError(f"Run {run_id!r} already exists; choose another run_id.")
    json.dumps(params)  # a TypeError now, not in the background writer
    parents: list[int] = []
    started = time.time()
    props: dict[str, Any] = {
        "name": label,
        "state": RUNNING,
        "launcher": "python",
        "parameters": params,
        "started_at": started,
        "pid": os.getpid(),
        "host": socket.gethostname(),
    }
    if experiment:
        parents.append(metadata.put_context(CONTEXT_EXPERIMENT, experiment).id)
        props["experiment"] = experiment
    ctx = metadata.put_context(CONTEXT_RUN, run_id, props, parents=parents)
    return {
        "run_id": run_id,
        "context_id": ctx.id,
        "params": params,
        "started": started,
        "owns_store": owns,
    }


def active_run() -> TrackedRun | None:
    """The active run, or None."""
    return _active


def _current() -> TrackedRun:
    run = _active
    if run is not None and not run.ended:
        return run
    with _active_lock:
        if _active is None or _active.ended:
            return start_run()
        return _active


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Record a metric value in the active run (started on first use).

    Inside a pipeline step, the value goes to that step's execution and its run instead (a
    training curve of the task, plotted per step).

    Example:
        >>> conveyor.log_metric("loss", 0.25, step=3)  # doctest: +SKIP
    """
    if log_task_metric(name, value, step):
        return
    _current().log_metric(name, value, step)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    """Record several metric values at one step in the active run.

    Example:
        >>> conveyor.log_metrics({"loss": 0.25, "acc": 0.9}, step=3)  # doctest: +SKIP
    """
    if current_task() is not None:
        checked = {name: _metric_value(name, value) for name, value in metrics.items()}
        for name, number in checked.items():
            log_task_metric(name, number, step)
        return
    _current().log_metrics(metrics, step)


def log_params(params: Mapping[str, Any]) -> None:
    """Merge parameters into the active run.

    Example:
        >>> conveyor.log_params({"lr": 0.1, "layers": [64, 64]})  # doctest: +SKIP
    """
    _current().log_params(params)


def end_run(state: str = COMPLETE) -> None:
    """End the active run (write what is buffered, record ``state``); no-op without one.

    Example:
        >>> conveyor.end_run()  # doctest: +SKIP
    """
    run = _active
    if run is not None:
        run.end(state)


def _end_at_exit() -> None:
    failed = getattr(sys, "last_value", None) is not None  # an uncaught exception ended it
    end_run(FAILED if failed else COMPLETE)
