"""Request metrics of one server process, in the Prometheus text format (version 0.0.4).

Each worker process counts its own requests (a scrape reaches one worker); the counters
start at zero when the process starts, as Prometheus expects of a restarted target.
"""

from __future__ import annotations

import threading
from collections import defaultdict

__all__ = ["BUCKETS", "Metrics"]

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the latency histogram's buckets."""


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Counters of requests by route and status code, errors by code, a latency histogram."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, int], int] = defaultdict(int)
        self._errors: dict[int, int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = {}
        self._sums: dict[str, float] = defaultdict(float)

    def observe(self, route: str, code: int, seconds: float) -> None:
        """Count one request to ``route`` answered with ``code`` after ``seconds``."""
        with self._lock:
            self._requests[(route, code)] += 1
            if code >= 400:
                self._errors[code] += 1
            counts = self._buckets.setdefault(route, [0] * (len(BUCKETS) + 1))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            counts[-1] += 1
            self._sums[route] += seconds

    def render(self) -> str:
        """The Prometheus text exposition of every metric."""
        lines = [
            "# HELP conveyor_requests_total HTTP requests by route and status code.",
            "# TYPE conveyor_requests_total counter",
        ]
        with self._lock:
            for (route, code), n in sorted(self._requests.items()):
                lines.append(
                    f'conveyor_requests_total{{route="{_label(route)}",code="{code}"}} {n}'
                )
            lines += [
                "# HELP conveyor_errors_total HTTP responses with a 4xx or 5xx status, by code.",
                "# TYPE conveyor_errors_total counter",
            ]
            for code, n in sorted(self._errors.items()):
                lines.append(f'conveyor_errors_total{{code="{code}"}} {n}')
            lines += [
                "# HELP conveyor_request_duration_seconds Time to answer a request, by route.",
                "# TYPE conveyor_request_duration_seconds histogram",
            ]
            for route, counts in sorted(self._buckets.items()):
                r, total = _label(route), counts[-1]
                for bound, n in zip(BUCKETS, counts, strict=False):
                    lines.append(
                        f'conveyor_request_duration_seconds_bucket{{route="{r}",le="{bound}"}} {n}'
                    )
                lines.append(
                    f'conveyor_request_duration_seconds_bucket{{route="{r}",le="+Inf"}} {total}'
                )
                lines.append(
                    f'conveyor_request_duration_seconds_sum{{route="{r}"}} {self._sums[route]}'
                )
                lines.append(f'conveyor_request_duration_seconds_count{{route="{r}"}} {total}')
        return "\n".join(lines) + "\n"
