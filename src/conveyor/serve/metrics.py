"""Request metrics of the whole server, in the Prometheus text format (prometheus_client).

With several worker processes a scrape reaches one of them, so every worker writes its
counts to files in one directory (prometheus_client's multiprocess mode, the directory named
by :data:`MULTIPROC_ENV`) and ``/metrics`` sums the files of every worker the server has run,
including workers that a restart replaced. Without that variable (a server built in-process,
as the unit tests do) the counts are this process's own.

``prometheus_client`` decides its mode when it is first imported, so this module imports it
only when a :class:`Metrics` is made: after :func:`conveyor.serve.server.serve` has set the
variable.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from conveyor.errors import ConfigError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["BUCKETS", "MULTIPROC_ENV", "Metrics", "clear_multiproc_dir"]

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the latency histogram's buckets."""

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""The directory where each worker process writes its counts (prometheus_client's name)."""

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def clear_multiproc_dir(path: str) -> None:
    """Make ``path`` if needed and remove the count files a previous server left there
    (only prometheus_client's ``*.db`` files), so a new server starts from zero.

    Raises:
        ConfigError: the directory cannot be made, read or cleared.
    """
    try:
        os.makedirs(path, exist_ok=True)
        for entry in os.listdir(path):
            if entry.endswith(".db"):
                os.remove(os.path.join(path, entry))
    except OSError as exc:
        raise ConfigError(
            f"{MULTIPROC_ENV}={path!r}: cannot keep the server's metrics there ({exc}). Set "
            f"it to a writable directory of its own, or unset it (a temporary one is used)"
        ) from exc


class Metrics:
    """Requests by route, status code, model, version and role (``primary``, ``canary``; empty
    for routes that no model answers), errors by code, a latency histogram by route and
    role, model swaps and failed swaps by role, and shadow requests scored, failed and
    dropped."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: the multiprocess mode has none either
        self._own = CollectorRegistry(auto_describe=True)
        reg = self._own
        self.requests = Counter(
            "conveyor_requests",
            "HTTP requests by route, status code, and the model, version and role that answered.",
            ["route", "code", "model", "version", "role"],
            registry=reg,
        )
        self.errors = Counter(
            "conveyor_errors", "HTTP responses with a 4xx or 5xx status, by code.", ["code"],
            registry=reg,
        )  # fmt: skip
        self.latency = Histogram(
            "conveyor_request_duration_seconds",
            "Time to answer a request, by route and the role of the model that answered.",
            ["route", "role"],
            buckets=BUCKETS,
            registry=reg,
        )
        self.swaps = Counter(
            "conveyor_model_swaps",
            "Models swapped in after their alias moved, by role and the version swapped in.",
            ["role", "version"],
            registry=reg,
        )
        self.swap_failures = Counter(
            "conveyor_model_swap_failures",
            "Versions an alias moved to that could not be loaded or failed their digest check "
            "(the previous version kept serving), by role and version.",
            ["role", "version"],
            registry=reg,
        )
        self.shadow = Counter(
            "conveyor_shadow_requests",
            "Requests handed to the shadow model, by outcome: scored, failed, or dropped "
            "because its queue was full.",
            ["outcome"],
            registry=reg,
        )

    def observe(
        self,
        route: str,
        code: int,
        seconds: float,
        *,
        model: str = "",
        version: str = "",
        role: str = "",
    ) -> None:
        """Count one request to ``route`` answered with ``code`` after ``seconds`` (by the
        ``role`` model ``model`` at ``version``, when a model answered)."""
        self.requests.labels(route, str(code), model, version, role).inc()
        if code >= 400:
            self.errors.labels(str(code)).inc()
        self.latency.labels(route, role).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of the whole server (every worker's counts when
        :data:`MULTIPROC_ENV` is set; this process's otherwise)."""
        from prometheus_client import generate_latest

        return generate_latest(self._registry())

    def _registry(self) -> CollectorRegistry:
        path = os.environ.get(MULTIPROC_ENV)
        if not path:
            return self._own
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
        return registry
