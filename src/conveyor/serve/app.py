"""The HTTP application of ``conveyor serve``: predict, probes, metrics and offline API docs.

Routes: ``POST /v1/models/{name}:predict``, ``GET /healthz`` (the process answers),
``GET /readyz`` (the model is loaded), ``GET /metrics`` (Prometheus text), ``GET /docs``
(a self-contained page: nothing is fetched from the internet) and ``GET /openapi.json``.
With a token, every route but the two probes needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import gc
import hmac
import html
import json
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Match

from conveyor.model.saved import LoadedModel, manifest_json
from conveyor.serve.info import info_router
from conveyor.serve.metrics import CONTENT_TYPE, Metrics
from conveyor.serve.openapi import describe_predict
from conveyor.serve.predict import AnswerResponse
from conveyor.serve.predict import answer as predict_answer
from conveyor.serve.predlog import REQUEST_ID_HEADER, PredictionLog
from conveyor.serve.requests import BadRequest, columns_of, parse_json
from conveyor.serve.routing import KEY_HEADER, goes_to_canary
from conveyor.serve.shadow import Shadow, ShadowConfig
from conveyor.serve.swap import Poller, Slot, Target, log_to_stderr

__all__ = ["CONFIG_ENV", "ServeConfig", "app_from_env", "create_app"]

CONFIG_ENV = "CONVEYOR_SERVE_CONFIG"
"""The environment variable that hands each worker process its :class:`ServeConfig` (JSON)."""
DEFAULT_MAX_BODY = 10 * 1024 * 1024
OPEN_ROUTES = ("/healthz", "/readyz")
PREDICT_ROUTE = "/v1/models/{name}:predict"
SERVED_KEY = "conveyor.served"
"""The ASGI scope key where the predict route leaves the model, version and role that answered."""
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
    is closed and published.

    ``uri`` is the ``models:/NAME@ALIAS`` the model came from: with ``poll_seconds`` > 0 each
    worker asks the registry at ``metadata_url`` that often whether the alias moved, and
    swaps the new version in. ``canary`` answers ``canary_fraction`` of the requests;
    ``shadow`` scores every request off the response path (its answers logged).
    """

    path: str
    name: str
    version: str | None = None
    token: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY
    log_dir: str | None = None
    log_rate: float = 1.0
    log_rotate_seconds: float = 300.0
    uri: str | None = None
    metadata_url: str | None = None
    poll_seconds: float = 0.0
    canary: Target | None = None
    canary_fraction: float = 0.0
    shadow: Target | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServeConfig:
        """The config :func:`config_dict` wrote."""
        roles = {
            k: None if data.get(k) is None else Target(**data[k]) for k in ("canary", "shadow")
        }
        return cls(**{**data, **roles})

    @property
    def primary(self) -> Target:
        return Target(self.path, self.name, self.version, self.uri)


def app_from_env() -> ASGIApp:
    """The application configured by :data:`CONFIG_ENV` (uvicorn's factory in each worker)."""
    return create_app(ServeConfig.from_dict(json.loads(os.environ[CONFIG_ENV])))


class _State:
    """The models of this process (primary, canary), loaded in the background so the probes
    answer at once and swapped when their alias moves, and the shadow's process."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.metrics = Metrics()
        self.log = (
            None
            if config.log_dir is None
            else PredictionLog(
                config.log_dir, rate=config.log_rate, rotate_seconds=config.log_rotate_seconds
            )
        )
        hooks = {
            "on_swap": lambda role, v: self.metrics.swaps.labels(role, v).inc(),
            "on_failure": lambda role, v: self.metrics.swap_failures.labels(role, v).inc(),
        }
        self.primary = Slot("primary", config.primary, **hooks)
        self.canary = None if config.canary is None else Slot("canary", config.canary, **hooks)
        self.slots = [s for s in (self.primary, self.canary) if s is not None]
        self.shadow: Shadow | None = None
        if config.shadow is not None:  # its answers go to a prediction log when there is one
            count = self.metrics.shadow.labels
            self.shadow = Shadow(
                ShadowConfig(
                    config.shadow, config.metadata_url, config.poll_seconds, config.log_dir,
                    config.log_rate, config.log_rotate_seconds,
                ),
                lambda outcome: count(outcome).inc(),
            )  # fmt: skip
        self.loaded = threading.Event()

    @property
    def model(self) -> LoadedModel | None:
        """The primary model serving now (``None`` until loaded)."""
        served = self.primary.current
        return None if served is None else served.model

    @property
    def error(self) -> str | None:
        for slot in self.slots:
            if slot.error is not None:
                return slot.error if slot is self.primary else f"The canary: {slot.error}"
        return None

    def load(self) -> None:
        if self.shadow is not None:  # it loads its model while this process loads its own
            self.shadow.start()
        follow = self.config.poll_seconds > 0
        for slot in self.slots:
            slot.load(self.config.metadata_url, follow=follow)
            if self.log is not None and slot.current is not None:
                self.log.set_input_types(slot.current.model.signature["inputs"])
        gc.freeze()  # what start-up made lives on: the collector no longer walks it
        self.loaded.set()
        if follow and self.config.metadata_url is not None:
            Poller(self.slots, self.config.metadata_url, self.config.poll_seconds).start()

    def ready(self) -> bool:
        return self.loaded.is_set() and all(s.current is not None for s in self.slots)


def _error(code: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=code)


def create_app(config: ServeConfig) -> ASGIApp:
    """The ASGI application serving the model of ``config`` (FastAPI inside the token check
    and the metrics)."""
    log_to_stderr()
    state = _State(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=state.load, name="conveyor-load-model", daemon=True).start()
        yield
        if state.shadow is not None:  # its log published, its process gone
            await run_in_threadpool(state.shadow.stop)
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
    served = lambda: state.primary.current  # noqa: E731  (the info route follows a hot swap)
    app.include_router(info_router(config.path, config.name, config.version, current=served))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        """The model is loaded (503 while loading, or with the reason it could not be)."""
        if state.ready():
            return JSONResponse({"status": "ready", "model": config.name})
        status = "loading" if state.error is None else "failed"
        return _error(503, state.error or "The model is loading", status=status)

    @app.get("/metrics")
    async def metrics() -> Response:
        """Request counts, errors and latency of the whole server in the Prometheus text
        format (and what this worker's prediction log did, when predictions are logged)."""
        text = state.metrics.render()
        if state.log is not None:
            text += state.log.prometheus().encode()
        return Response(text, media_type=CONTENT_TYPE)

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
        slot = state.primary
        if state.canary is not None and goes_to_canary(
            request.headers.get(KEY_HEADER), config.canary_fraction
        ):
            slot = state.canary
        served = slot.current  # this request's model to the end, whatever a swap does
        if served is None:
            return _error(503, state.error or "The model is loading; retry when /readyz is 200")
        model = served.model
        request.scope[SERVED_KEY] = (served.name, served.version or "", served.role)
        try:
            body = await _read_body(request, config.max_body_bytes)
            columns = columns_of(parse_json(body), model.signature["inputs"])
        except BadRequest as exc:
            problems = [p.to_dict() for p in exc.problems]
            return _error(exc.status, exc.message, **({"problems": problems} if problems else {}))
        answer = await predict_answer(model, columns)
        request_id = None
        if state.log is not None or state.shadow is not None:  # one id joins their log rows
            request_id = request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
        if state.log is not None:  # non-blocking: sampled, buffered, written in the background
            state.log.record(
                model=served.name, version=served.version, role=served.role, columns=columns,
                outputs=answer, request_id=request_id,
            )  # fmt: skip
        if state.shadow is not None:
            state.shadow.submit(columns, request_id)
        return AnswerResponse(
            {**answer, "model": served.name, "version": served.version, "role": served.role}
        )

    describe_predict(app, PREDICT_ROUTE, manifest_json(config.path).get("signature") or {})
    route = next(r for r in app.routes if isinstance(r, APIRoute) and r.path == PREDICT_ROUTE)
    return _Guard(app, state, config.token, route)


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
    """ASGI middleware: the bearer token check, then request metrics by route template.

    A request to the predict route goes straight to its endpoint (the same function, so the
    same answers and errors), past FastAPI's middleware stack, routing and parameter solving,
    which cost more than a one-row prediction; every other request goes through FastAPI.
    """

    def __init__(
        self, app: FastAPI, state: _State, token: str | None, predict: APIRoute | None = None
    ) -> None:
        self.app = app
        self.state = state
        self.token = token
        self.predict = predict

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
                await self._route(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "other"
            model, version, role = scope.get(SERVED_KEY, ("", "", ""))
            self.state.metrics.observe(
                route, status, time.perf_counter() - start, model=model, version=version, role=role
            )

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.predict
        if route is not None and scope["method"] == "POST":
            match, child = route.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                scope["app"] = self.app
                request = Request(scope, receive)
                try:
                    response = await route.endpoint(child["path_params"]["name"], request)
                except HTTPException as exc:  # as FastAPI's exception middleware answers it
                    response = await http_exception_handler(request, exc)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


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
