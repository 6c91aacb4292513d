"""The shadow model: it scores every request off the response path; its answers are logged,
never returned.

Each worker starts one shadow process of its own (``multiprocessing`` spawn), which loads
the shadow model, follows its alias like the worker does, and writes each answer to a
:class:`Recorder`: its own :class:`~conveyor.serve.predlog.PredictionLog` when predictions
are logged, else the server's standard error. A separate process, so that scoring the
shadow never holds the worker's interpreter lock and a shadow that fails or runs out of
memory never takes the worker down. The predict route hands a request's columns to a
bounded queue and returns at once; when the queue is full (the shadow is slower than the
traffic) the request is dropped for the shadow and counted. The shadow's counts reach
``/metrics`` through the same multiprocess files as the workers'.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import queue
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from conveyor.serve.swap import Poller, Slot, Target, log_to_stderr

if TYPE_CHECKING:
    from multiprocessing.synchronize import Event

    from conveyor.model.saved import LoadedModel

__all__ = ["DEFAULT_QUEUE", "LogRecorder", "Recorder", "Shadow", "ShadowConfig", "score_forever"]

DEFAULT_QUEUE = 256
"""Requests waiting for the shadow model, at most, per worker."""

STOP_TIMEOUT = 15.0
"""Seconds a stopping worker waits for its shadow process to publish its log and exit."""


class Recorder(Protocol):
    """Where answers are written (the shape of ``PredictionLog.record``)."""

    def record(
        self,
        *,
        model: str,
        version: str | None,
        role: str,
        columns: dict[str, list[Any]],
        outputs: dict[str, Any],
        request_id: str | None = None,
    ) -> None: ...


class LogRecorder:
    """Writes each answer as one JSON line to the ``conveyor.serve.shadow`` logger (the
    server's standard error): the model, version, role, row count and outputs."""

    def __init__(self) -> None:
        self.log = logging.getLogger("conveyor.serve.shadow")

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
        rows = len(next(iter(columns.values()), []))
        line = {"model": model, "version": version, "role": role, "request_id": request_id,
                "rows": rows, **outputs}  # fmt: skip
        self.log.info("%s", json.dumps(line, default=str))


@dataclass(frozen=True)
class ShadowConfig:
    """What a shadow process needs: its model, the registry to follow its alias in, and
    where its answers are logged (``log_dir`` ``None``: on standard error)."""

    target: Target
    metadata_url: str | None = None
    poll_seconds: float = 0.0
    log_dir: str | None = None
    log_rate: float = 1.0
    log_rotate_seconds: float = 300.0


Scorer = Callable[["LoadedModel", dict[str, list[Any]]], dict[str, Any]]


class _Source(Protocol):
    def get(self, block: bool = True, timeout: float | None = None) -> Any: ...


def score_forever(
    source: _Source,
    slot: Slot,
    score: Scorer,
    recorder: Recorder,
    count: Callable[[str], None],
    done: Callable[[], bool],
) -> None:
    """Score each request's columns taken from ``source`` with the model of ``slot`` and
    record the answer; ``count`` hears ``"scored"`` or ``"failed"``. Returns once ``done()``
    and nothing is left to score."""
    log = logging.getLogger("conveyor.serve")
    while True:
        try:
            item = source.get(timeout=0.2)
        except queue.Empty:
            if done():
                return
            continue
        # a request's columns, and its id (the primary's log row carries the same one)
        columns, request_id = item if isinstance(item, tuple) else (item, None)
        served = slot.current
        try:
            if served is None:
                raise RuntimeError(slot.error or "the shadow model is not loaded")
            outputs = score(served.model, columns)
            recorder.record(
                model=served.name, version=served.version, role="shadow",
                columns=columns, outputs=outputs, request_id=request_id,
            )  # fmt: skip
        except Exception as exc:  # the shadow's failure is counted, never the primary's
            log.warning("The shadow model failed on a request: %s", exc)
            count("failed")
        else:
            count("scored")


class Shadow:
    """The worker's side of its shadow process: the bounded queue to it, started and
    stopped with the worker. ``count("dropped")`` is called for each request the full
    queue turns away."""

    def __init__(
        self, config: ShadowConfig, count: Callable[[str], None], *, capacity: int = DEFAULT_QUEUE
    ) -> None:
        context = multiprocessing.get_context("spawn")  # no copy of the worker's threads
        self.queue: multiprocessing.Queue[tuple[dict[str, list[Any]], str | None]] = context.Queue(
            capacity
        )
        self.queue.cancel_join_thread()  # a worker never waits at exit to feed a dead shadow
        self._stop = context.Event()
        self.count = count
        self.process = context.Process(
            target=_main, args=(config, self.queue, self._stop, os.getpid()),
            name="conveyor-shadow", daemon=True,
        )  # fmt: skip

    def start(self) -> None:
        self.process.start()

    def submit(self, columns: dict[str, list[Any]], request_id: str | None = None) -> None:
        """Hand a request's columns (and its id, which the shadow's log row keeps) to the
        shadow; never blocks (drops when full)."""
        try:
            self.queue.put_nowait((columns, request_id))
        except queue.Full:
            self.count("dropped")

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Ask the shadow process to score what is queued, publish its log and exit; end it
        if it has not within ``timeout`` seconds."""
        self._stop.set()
        if self.process.pid is None:
            return
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def _main(
    config: ShadowConfig, source: multiprocessing.Queue[Any], stop: Event, parent: int
) -> None:
    """The shadow process: load, follow the alias, score until the worker stops it (or is
    gone), then publish the log."""
    from conveyor.serve.metrics import Metrics
    from conveyor.serve.predict import predict_columns
    from conveyor.serve.predlog import PredictionLog

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the worker, which stops us
    log_to_stderr()
    metrics = Metrics()
    slot = Slot(
        "shadow", config.target,
        on_swap=lambda role, v: metrics.swaps.labels(role, v).inc(),
        on_failure=lambda role, v: metrics.swap_failures.labels(role, v).inc(),
    )  # fmt: skip
    follow = config.poll_seconds > 0 and config.metadata_url is not None
    slot.load(config.metadata_url, follow=follow)
    plog = None
    if config.log_dir is not None:
        plog = PredictionLog(
            config.log_dir, rate=config.log_rate, rotate_seconds=config.log_rotate_seconds
        )
        if slot.current is not None:
            plog.set_input_types(slot.current.model.signature["inputs"])
    if follow:
        assert config.metadata_url is not None
        Poller([slot], config.metadata_url, config.poll_seconds).start()
    try:
        score_forever(
            source, slot, predict_columns, plog or LogRecorder(),
            lambda outcome: metrics.shadow.labels(outcome).inc(),
            lambda: stop.is_set() or os.getppid() != parent,
        )  # fmt: skip
    finally:
        if plog is not None:
            plog.close()
