"""The model answering in each role, swapped atomically when its registry alias moves.

A :class:`Slot` holds the model of one role (``primary``, ``canary`` or ``shadow``). A
request reads ``slot.current`` once and uses that model to the end, so a swap never
changes the model under a request in flight: the old one finishes what it started. A
:class:`Poller` thread asks the registry, every ``poll_seconds``, which version each
``models:/NAME@ALIAS`` slot's alias points at (one indexed query); when it moved, the thread
loads the new version, checks its recorded digest, and only then swaps it in. A version
that cannot be loaded or fails its digest check is logged, counted
(``conveyor_model_swap_failures_total``) and not tried again until the alias moves on;
the old model keeps serving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from conveyor.model.saved import LoadedModel, load_model
from conveyor.serve.source import (
    ModelSource,
    check_digest,
    open_registry,
    open_source,
    registered_source,
)

if TYPE_CHECKING:
    from conveyor.serve.source import ModelRegistryStore

__all__ = ["Poller", "Served", "Slot", "Target", "is_alias_uri", "log_to_stderr"]

log = logging.getLogger("conveyor.serve")


def log_to_stderr() -> None:
    """Log swaps, failed swaps and shadow answers on standard error beside uvicorn's lines
    (uvicorn configures only its own loggers)."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


@dataclass(frozen=True)
class Target:
    """A model to serve in one role: its folder, name and version as resolved when the
    server started, and the ``models:/`` URI it came from (``None``: a folder)."""

    path: str
    name: str
    version: str | None = None
    uri: str | None = None


@dataclass(frozen=True)
class Served:
    """A loaded model and what a response says of it."""

    model: LoadedModel
    name: str
    version: str | None
    role: str


def is_alias_uri(uri: str | None) -> bool:
    """Whether ``uri`` names a version through an alias (``models:/NAME@ALIAS``), which can
    move, rather than a fixed version or a folder."""
    return uri is not None and uri.startswith("models:/") and "@" in uri


class Slot:
    """The model of one role. ``current`` is replaced in one assignment (atomic in Python);
    readers take it once per request."""

    def __init__(
        self,
        role: str,
        target: Target,
        *,
        on_swap: Callable[[str, str], None] | None = None,
        on_failure: Callable[[str, str], None] | None = None,
    ) -> None:
        self.role = role
        self.target = target
        self.current: Served | None = None
        self.error: str | None = None
        self.loaded = threading.Event()
        self._failed: str | None = None  # the version that failed to load, not retried
        self._on_swap = on_swap
        self._on_failure = on_failure

    def load(self, metadata_url: str | None, *, follow: bool) -> None:
        """Load the model (in a background thread at start-up). With ``follow`` and an alias
        URI, the version the alias points at now, so a worker started after a swap (a
        restart) serves what the others serve; the version resolved at start-up if that
        lookup fails."""
        try:
            source: ModelSource | None = None
            if follow and is_alias_uri(self.target.uri) and metadata_url is not None:
                assert self.target.uri is not None
                try:
                    source = open_source(self.target.uri, metadata_url=metadata_url)
                    check_digest(source)
                except Exception as exc:  # fall back to the version checked at start-up
                    log.warning(
                        "Cannot look up %s (%s); serving version %s checked at start-up",
                        self.target.uri, exc, self.target.version,
                    )  # fmt: skip
                    source = None
            if source is None:
                source = ModelSource(self.target.path, self.target.name, self.target.version, None)
            self.current = Served(load_model(source.path), source.name, source.version, self.role)
        except Exception as exc:  # reported by /readyz and predict, not raised in a thread
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.loaded.set()

    def refresh(self, registry: ModelRegistryStore) -> bool:
        """Swap in the version the alias points at if it moved (``registry``: an open
        store). Returns whether a new model was swapped in."""
        if self.current is None or self.target.uri is None:
            return False
        version = registry.resolve_model(self.target.uri)
        number = str(version.version)
        if number == self.current.version or number == self._failed:
            return False
        try:
            source = registered_source(registry, version, self.target.uri)
            check_digest(source)
            model = load_model(source.path)
        except Exception as exc:
            self._failed = number
            log.error(
                "Not swapping the %s model to version %s of %s: %s; version %s keeps serving",
                self.role, number, self.target.uri, exc, self.current.version,
            )  # fmt: skip
            if self._on_failure is not None:
                self._on_failure(self.role, number)
            return False
        old = self.current.version
        self.current = Served(model, source.name, source.version, self.role)
        self._failed = None
        log.info(
            "Swapped the %s model %s from version %s to %s", self.role, self.target.uri, old, number
        )
        if self._on_swap is not None:
            self._on_swap(self.role, number)
        return True


class Poller:
    """A daemon thread that refreshes ``slots`` every ``seconds`` through one store
    connection it opens itself (a store belongs to the thread that uses it)."""

    def __init__(self, slots: Sequence[Slot], metadata_url: str, seconds: float) -> None:
        self.slots = [s for s in slots if is_alias_uri(s.target.uri)]
        self.metadata_url = metadata_url
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="conveyor-poll", daemon=True)

    def start(self) -> None:
        if self.slots:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        store: ModelRegistryStore | None = None
        while not self._stop.wait(self.seconds):
            try:
                if store is None:
                    store = open_registry(self.metadata_url)
                for slot in self.slots:
                    if slot.loaded.is_set():
                        slot.refresh(store)
            except Exception as exc:  # the registry is away: keep serving, ask again later
                log.warning("Cannot poll the model registry: %s", exc)
                if store is not None:
                    store.close()
                    store = None
        if store is not None:
            store.close()
