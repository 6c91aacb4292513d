"""The smoke test of a deployed model server: send the model's example rows, check the answers.

What a CI/CD deploy job runs after deploying (``conveyor smoke-test URL``): the server is
ready (``/readyz``), says what it serves (``GET /v1/models/{name}``, with the example rows
kept with the model), answers the rows with status 200, one prediction per row of the
signature's output type (a class of the model for a classifier), class probabilities that
are in [0, 1] and sum to 1, and, when a bound is given, within it (the median of the timed
requests). Only the standard library speaks HTTP here, so the command starts fast and needs
nothing the server does not.
"""

from __future__ import annotations

import json
import math
import statistics
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Check", "HttpAnswer", "SmokeReport", "http_json", "smoke_test"]

_TOLERANCE = 1e-6


@dataclass(frozen=True)
class HttpAnswer:
    """A status (0: the server could not be reached), the JSON body (None: not JSON), the
    time it took in milliseconds, and the reason when it failed below HTTP."""

    status: int
    body: Any
    ms: float
    error: str | None = None


def http_json(
    url: str, *, token: str | None = None, payload: Any = None, timeout: float = 30.0
) -> HttpAnswer:
    """GET ``url`` (or POST ``payload`` as JSON) and read the JSON answer."""
    data = None if payload is None else json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        status, raw = int(exc.code), exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return HttpAnswer(0, None, (time.perf_counter() - start) * 1000, str(reason))
    ms = (time.perf_counter() - start) * 1000
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    return HttpAnswer(status, body, ms)


@dataclass(frozen=True)
class Check:
    """One check: its name, whether it passed, and what was seen."""

    name: str
    ok: bool
    detail: str


@dataclass
class SmokeReport:
    """The checks run against ``url``, the model and version that answered, the rows sent
    and the latency of each timed request (milliseconds)."""

    url: str
    model: str | None = None
    version: str | None = None
    rows: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every check passed (and at least one ran)."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    def check(self, name: str, ok: bool, detail: str) -> bool:
        """Record a check; returns ``ok``."""
        self.checks.append(Check(name, ok, detail))
        return ok

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``--json`` prints)."""
        lat = self.latencies_ms
        return {
            "ok": self.ok,
            "url": self.url,
            "model": self.model,
            "version": self.version,
            "rows": self.rows,
            "latency_ms": {
                "p50": statistics.median(lat) if lat else None,
                "max": max(lat) if lat else None,
                "requests": len(lat),
            },
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
        }


class NoExampleRows(LookupError):
    """The model keeps no example rows and none were given (the caller asks for a file)."""


def smoke_test(
    url: str,
    *,
    model: str | None = None,
    token: str | None = None,
    rows: Sequence[Mapping[str, Any]] | None = None,
    info: Mapping[str, Any] | None = None,
    max_latency_ms: float | None = None,
    requests: int = 5,
    wait_seconds: float = 0.0,
    timeout: float = 30.0,
) -> SmokeReport:
    """Smoke-test the model server at ``url`` (``http://host:port``).

    Args:
        url: the server's base URL.
        model: the model's name (default: the name ``/readyz`` gives).
        token: the bearer token, when the server needs one.
        rows: the rows to send (default: the example rows the server shows for the model).
        info: what ``GET /v1/models/{name}`` would say (signature, classes), when the caller
            read it elsewhere (the model folder); default: asked of the server.
        max_latency_ms: the most the median timed request may take.
        requests: timed requests after one untimed first request.
        wait_seconds: how long to wait for ``/readyz`` to answer 200.
        timeout: seconds each request may take.

    Raises:
        NoExampleRows: no ``rows`` given and the model keeps none.

    Example:
        >>> report = smoke_test("http://127.0.0.1:8080", max_latency_ms=100)  # doctest: +SKIP
        >>> report.ok  # doctest: +SKIP
        True
    """
    base = url.rstrip("/")
    report = SmokeReport(base)
    ready = _wait_ready(base, wait_seconds, timeout)
    detail = _describe(ready)
    if not report.check("ready", ready.status == 200, f"GET /readyz: {detail}"):
        return report
    name = model or (ready.body.get("model") if isinstance(ready.body, dict) else None)
    if not report.check(
        "model name", isinstance(name, str) and bool(name),
        f"serving {name!r}" if name else "/readyz names no model: give --model NAME",
    ):  # fmt: skip
        return report
    assert isinstance(name, str)
    report.model = name
    if info is None:
        info = _server_info(report, base, name, token, timeout, need=rows is None)
        if info is None and rows is None:
            return report
    if rows is None:
        examples = (info or {}).get("examples")
        if not examples:
            raise NoExampleRows(
                f"The model {name!r} keeps no example rows (it was saved before they were "
                "kept, or without training rows): give rows to send with --rows FILE"
            )
        rows = examples
    report.rows = len(rows)
    _predict_checks(report, base, name, token, list(rows), info or {}, requests, timeout)
    if report.latencies_ms and max_latency_ms is not None:
        p50 = statistics.median(report.latencies_ms)
        report.check(
            "latency", p50 <= max_latency_ms,
            f"median {p50:.1f} ms over {len(report.latencies_ms)} requests "
            f"(max {max(report.latencies_ms):.1f} ms), bound {max_latency_ms:g} ms",
        )  # fmt: skip
    return report


def _wait_ready(base: str, wait_seconds: float, timeout: float) -> HttpAnswer:
    deadline = time.monotonic() + wait_seconds
    while True:
        answer = http_json(f"{base}/readyz", timeout=timeout)
        if answer.status == 200 or time.monotonic() >= deadline:
            return answer
        time.sleep(0.2)


def _describe(answer: HttpAnswer) -> str:
    if answer.status == 0:
        return f"could not connect ({answer.error})"
    said = answer.body.get("error") if isinstance(answer.body, dict) else None
    return f"{answer.status} in {answer.ms:.1f} ms" + (f": {said}" if said else "")


def _server_info(
    report: SmokeReport, base: str, name: str, token: str | None, timeout: float, *, need: bool
) -> dict[str, Any] | None:
    answer = http_json(f"{base}/v1/models/{name}", token=token, timeout=timeout)
    ok = answer.status == 200 and isinstance(answer.body, dict)
    hint = " (give --token, or CONVEYOR_SERVE_TOKEN)" if answer.status == 401 else ""
    if not ok and not need:
        return None  # the rows were given: the signature is a bonus
    report.check("model info", ok, f"GET /v1/models/{name}: {_describe(answer)}{hint}")
    if not ok:
        return None
    assert isinstance(answer.body, dict)
    version = answer.body.get("version")
    report.version = None if version is None else str(version)
    return answer.body


def _predict_checks(
    report: SmokeReport,
    base: str,
    name: str,
    token: str | None,
    rows: list[Mapping[str, Any]],
    info: Mapping[str, Any],
    requests: int,
    timeout: float,
) -> None:
    route = f"{base}/v1/models/{name}:predict"
    first = http_json(route, token=token, payload={"rows": rows}, timeout=timeout)
    if not report.check(
        "status", first.status == 200 and isinstance(first.body, dict),
        f"POST /v1/models/{name}:predict with {len(rows)} rows: {_describe(first)}"
        + (_problems(first.body) if first.status == 422 else ""),
    ):  # fmt: skip
        return
    body: dict[str, Any] = first.body
    if body.get("version") is not None:
        report.version = str(body["version"])
    report.check(
        "model", body.get("model") == name, f"answered by {body.get('model')!r}, asked {name!r}"
    )
    predictions = body.get("predictions")
    if not report.check(
        "one prediction per row",
        isinstance(predictions, list) and len(predictions) == len(rows),
        f"{len(predictions) if isinstance(predictions, list) else 'no'} predictions "
        f"for {len(rows)} rows",
    ):
        return
    assert isinstance(predictions, list)
    report.check("prediction types", *_types_ok(predictions, info))
    if "probabilities" in body or info.get("task") == "classification":
        report.check("probabilities", *_probabilities_ok(body.get("probabilities"), rows, info))
    failed = []
    for _ in range(max(requests, 0)):
        answer = http_json(route, token=token, payload={"rows": rows}, timeout=timeout)
        report.latencies_ms.append(answer.ms)
        if answer.status != 200:
            failed.append(_describe(answer))
    if requests > 0:
        report.check(
            "repeated requests", not failed,
            f"{requests - len(failed)} of {requests} answered 200"
            + (f"; first failure: {failed[0]}" if failed else ""),
        )  # fmt: skip


def _problems(body: Any) -> str:
    problems = body.get("problems") if isinstance(body, dict) else None
    if not isinstance(problems, list) or not problems:
        return ""
    shown = "; ".join(
        f"row {p.get('row')} field {p.get('field')!r}: {p.get('message')}"
        for p in problems[:3]
        if isinstance(p, dict)
    )
    return f" ({shown}{'; ...' if len(problems) > 3 else ''})"


_KINDS: dict[str, tuple[type, ...]] = {
    "INT": (int,),
    "FLOAT": (int, float),
    "STRING": (str,),
    "BOOL": (bool,),
}


def _types_ok(predictions: list[Any], info: Mapping[str, Any]) -> tuple[bool, str]:
    outputs = (info.get("signature") or {}).get("outputs") or []
    kind = str(outputs[0].get("type")) if outputs and isinstance(outputs[0], dict) else None
    classes = info.get("classes")
    if kind in _KINDS:
        allowed = _KINDS[kind]
        bad = [
            p
            for p in predictions
            if not isinstance(p, allowed)
            or (kind != "BOOL" and isinstance(p, bool))
            or (isinstance(p, float) and not math.isfinite(p))
        ]
        if bad:
            return False, f"expected {kind} predictions, got {bad[0]!r}"
    else:  # no signature: the answers must at least agree with each other
        kinds = {type(p).__name__ for p in predictions}
        if len(kinds) != 1 or None in predictions:
            return False, f"predictions of mixed or missing types: {sorted(kinds)}"
        kind = kinds.pop()
    if isinstance(classes, list) and info.get("task") == "classification":
        outside = [p for p in predictions if p not in classes]
        if outside:
            return False, f"{outside[0]!r} is not one of the model's classes {classes!r}"
        return True, f"{kind} values, each one of the classes {classes!r}"
    return True, f"{kind} values"


def _probabilities_ok(
    probabilities: Any, rows: Sequence[Any], info: Mapping[str, Any]
) -> tuple[bool, str]:
    if not isinstance(probabilities, list) or len(probabilities) != len(rows):
        return False, "expected one set of class probabilities per row"
    classes = info.get("classes")
    expected = {str(c) for c in classes} if isinstance(classes, list) else None
    for i, row in enumerate(probabilities):
        if not isinstance(row, dict) or not row:
            return False, f"row {i}: {row!r} is not an object of class probabilities"
        if expected is not None and set(row) != expected:
            return False, f"row {i}: classes {sorted(row)}, the model has {sorted(expected)}"
        values = list(row.values())
        if not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in values
        ):
            return False, f"row {i}: a probability is not a finite number: {row!r}"
        if any(v < -_TOLERANCE or v > 1 + _TOLERANCE for v in values):
            return False, f"row {i}: a probability outside [0, 1]: {row!r}"
        total = math.fsum(values)
        if abs(total - 1.0) > _TOLERANCE:
            return False, f"row {i}: the probabilities sum to {total!r}, not 1"
    return True, f"{len(probabilities)} rows, each summing to 1 within {_TOLERANCE:g}"
