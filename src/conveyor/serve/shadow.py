"""The shadow model: it scores every request off the response path; its answers are logged,
never returned.

The primary's request hands its columns to a bounded queue and returns at once; one
background thread per worker scores them with the shadow model and hands each answer to a
:class:`Recorder`. When the queue is full (the shadow is slower than the traffic) the request
is dropped for the shadow and counted, so the shadow never slows or fails the primary.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

from conveyor.model.saved import LoadedModel
from conveyor.serve.swap import Slot

__all__ = ["DEFAULT_QUEUE", "LogRecorder", "Recorder", "Shadow"]

DEFAULT_QUEUE = 256
"""Requests waiting for the shadow model, at most, per worker."""


class Recorder(Protocol):
    """Where answers are written (the shape of the prediction log's ``record``)."""

    def record(
        self,
        *,
        model: str,
        version: str | None,
        role: str,
        columns: dict[str, list[Any]],
        outputs: dict[str, Any],
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
    ) -> None:
        rows = len(next(iter(columns.values()), []))
        line = {"model": model, "version": version, "role": role, "rows": rows, **outputs}
        self.log.info("%s", json.dumps(line, default=str))


Scorer = Callable[[LoadedModel, dict[str, list[Any]]], dict[str, Any]]


class Shadow:
    """Scores requests with the model of ``slot`` in a background thread.

    ``count(outcome)`` is told ``"scored"``, ``"failed"`` or ``"dropped"`` for each request
    handed over.
    """

    def __init__(
        self,
        slot: Slot,
        score: Scorer,
        recorder: Recorder,
        count: Callable[[str], None],
        *,
        capacity: int = DEFAULT_QUEUE,
    ) -> None:
        self.slot = slot
        self.score = score
        self.recorder = recorder
        self.count = count
        self.queue: queue.Queue[dict[str, list[Any]]] = queue.Queue(maxsize=capacity)
        self._thread = threading.Thread(target=self._run, name="conveyor-shadow", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, columns: dict[str, list[Any]]) -> None:
        """Hand a request's columns to the shadow; never blocks (drops when full)."""
        try:
            self.queue.put_nowait(columns)
        except queue.Full:
            self.count("dropped")

    def _run(self) -> None:
        log = logging.getLogger("conveyor.serve")
        while True:
            columns = self.queue.get()
            served = self.slot.current
            try:
                if served is None:
                    raise RuntimeError(self.slot.error or "the shadow model is not loaded")
                outputs = self.score(served.model, columns)
                self.recorder.record(
                    model=served.name, version=served.version, role="shadow",
                    columns=columns, outputs=outputs,
                )  # fmt: skip
            except Exception as exc:  # the shadow's failure is counted, never the primary's
                log.warning("The shadow model failed on a request: %s", exc)
                self.count("failed")
            else:
                self.count("scored")
