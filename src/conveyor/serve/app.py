"""The HTTP application of ``conveyor serve``: predict, probes, metrics and offline API docs.

Routes: ``POST /v1/models/{name}:predict``, ``GET /healthz`` (the process answers),
``GET /readyz`` (the model is loaded), ``GET /metrics`` (Prometheus text), ``GET /docs``
(a self-contained page: nothing is fetched from the internet) and ``GET /openapi.json``.
With a token, every route but the two probes needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import html
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from conveyor.model.saved import LoadedModel, load_model, manifest_json
from conveyor.serve.metrics import Metrics
from conveyor.serve.openapi import describe_predict
from conveyor.serve.predict import predict_columns
from conveyor.serve.predlog import PredictionLog
from conveyor.serve.requests import BadRequest, columns_of, parse_json

__all__ = ["CONFIG_ENV", "ServeConfig", "app_from_env", "create_app"]

CONFIG_ENV = "CONVEYOR_SERVE_CONFIG"
"""The environment variable that hands each worker process its :class:`ServeConfig` (JSON)."""
DEFAULT_MAX_BODY = 10 * 1024 * 1024
OPEN_ROUTES = ("/healthz", "/readyz")
PREDICT_ROUTE = "/v1/models/{name}:predict"
LOAD_WAIT = 30.0
"""Seconds a prediction waits for the model of a worker that is still loading it (then 503)."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class ServeConfig:
    """What a server process serves: the model folder, its name and version, the bearer
    token (``None``: no token), the largest request body in bytes, and where predictions
    are logged (``log_dir``, ``None``: not logged), at which rate, and how often a log file
    is closed and published."""

    path: str
    name: str
    version: str | None = None
    token: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY
    log_dir: str | None = None
    log_rate: float = 1.0
    log_rotate_seconds: float = 300.0


def app_from_env() -> ASGIApp:
    """The application configured by :data:`CONFIG_ENV` (uvicorn's factory in each worker)."""
    return create_app(ServeConfig(**json.loads(os.environ[CONFIG_ENV])))


class _State:
    """The model of this process, loaded in the background so the probes answer at once."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.model: LoadedModel | None = None
        self.error: str | None = None
        self.loaded = threading.Event()
        self.metrics = Metrics()
        self.log = (
            None
            if config.log_dir is None
            else PredictionLog(
                config.log_dir, rate=config.log_rate, rotate_seconds=config.log_rotate_seconds
            )
        )

    def load(self) -> None:
        try:
            self.model = load_model(self.config.path)
            if self.log is not None:
                self.log.set_input_types(self.model.signature["inputs"])
        except Exception as exc:  # reported by /readyz and predict, not raised in a thread
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.loaded.set()


def _error(code: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=code)


def create_app(config: ServeConfig) -> ASGIApp:
    """The ASGI application serving the model of ``config`` (FastAPI inside the token check
    and the metrics)."""
    state = _State(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=state.load, name="conveyor-load-model", daemon=True).start()
        yield
        if state.log is not None:  # publish the open log files before the process ends
            await run_in_threadpool(state.log.close)

    app = FastAPI(
        title=f"Conveyor model server: {config.name}",
        version=config.version or "unversioned",
        docs_url=None,  # Swagger UI loads its assets from a CDN: /docs is our own page
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.conveyor = state

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        """The model is loaded (503 while loading, or with the reason it could not be)."""
        if state.model is not None:
            return JSONResponse({"status": "ready", "model": config.name})
        status = "loading" if state.error is None else "failed"
        return _error(503, state.error or "The model is loading", status=status)

    @app.get("/metrics")
    async def metrics() -> Response:
        """Request counts, errors and latency in the Prometheus text format (and what the
        prediction log did, when predictions are logged)."""
        text = state.metrics.render() + (state.log.prometheus() if state.log is not None else "")
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(_docs_page(app.openapi()))

    @app.post(PREDICT_ROUTE)
    async def predict(name: str, request: Request) -> Response:
        """Predictions for rows (``{"rows": [...]}``) or columns (``{"columns": {...}}``)."""
        if name != config.name:
            return _error(404, f"No model {name!r} here; this server serves {config.name!r}")
        if not state.loaded.is_set():  # a worker just started: wait for its model a while
            await run_in_threadpool(state.loaded.wait, LOAD_WAIT)
        model = state.model
        if model is None:
            return _error(503, state.error or "The model is loading; retry when /readyz is 200")
        try:
            body = await _read_body(request, config.max_body_bytes)
            columns = columns_of(parse_json(body), model.signature["inputs"])
        except BadRequest as exc:
            problems = [p.to_dict() for p in exc.problems]
            return _error(exc.status, exc.message, **({"problems": problems} if problems else {}))
        answer = await run_in_threadpool(predict_columns, model, columns)
        if state.log is not None:  # non-blocking: sampled, buffered, written in the background
            state.log.record(
                model=config.name, version=config.version, role="primary", columns=columns,
                outputs=answer,
            )  # fmt: skip
        return JSONResponse({**answer, "model": config.name, "version": config.version})

    describe_predict(app, PREDICT_ROUTE, manifest_json(config.path).get("signature") or {})
    return _Guard(app, state, config.token)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest(400, f"Content-Length {declared!r} is not a number")
        if int(declared) > limit:
            raise BadRequest(413, f"The body has {declared} bytes; this server takes {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"The body exceeds {limit} bytes, the most this server takes")
        chunks.append(chunk)
    return b"".join(chunks)


class _Guard:
    """ASGI middleware: the bearer token check, then request metrics by route template."""

    def __init__(self, app: FastAPI, state: _State, token: str | None) -> None:
        self.app = app
        self.state = state
        self.token = token

    def __getattr__(self, name: str) -> Any:  # app.state, app.openapi, ... for callers
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            if (
                self.token is not None
                and scope["path"] not in OPEN_ROUTES
                and not _authorised(scope, self.token)
            ):
                response = _error(
                    401, "Missing or wrong bearer token: send Authorization: Bearer <token>"
                )
                response.headers["WWW-Authenticate"] = "Bearer"
                await response(scope, receive, send_status)
            else:
                await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "other"
            self.state.metrics.observe(route, status, time.perf_counter() - start)


def _authorised(scope: Scope, token: str) -> bool:
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            scheme, _, given = value.decode("latin-1").partition(" ")
            return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)
    return False


def _docs_page(spec: dict[str, Any]) -> str:
    """A self-contained page listing the API (no script, no stylesheet from elsewhere)."""
    rows = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            summary = op.get("summary", "")
            text = (op.get("description") or "").strip()
            rows.append(
                f"<h2><code>{html.escape(method.upper())} {html.escape(path)}</code></h2>"
                f"<p>{html.escape(summary)}</p><pre>{html.escape(text)}</pre>"
            )
    title = html.escape(str(spec.get("info", {}).get("title", "API")))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>The machine-readable API: "
        f"<a href='openapi.json'>openapi.json</a></p>{''.join(rows)}</body></html>"
    )


def config_dict(config: ServeConfig) -> dict[str, Any]:
    """``config`` as the JSON of :data:`CONFIG_ENV`."""
    return asdict(config)
