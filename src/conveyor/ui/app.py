"""``create_app``: the UI server's FastAPI app (the API under ``/api/v1``, pages, assets)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from starlette.staticfiles import StaticFiles

from conveyor._internal.version import VERSION
from conveyor.errors import ConveyorError, NotFoundError
from conveyor.ui.context import UIConfig, UIContext
from conveyor.ui.routes import ROUTERS
from conveyor.ui.security import Guard

__all__ = ["API_PREFIX", "UIConfig", "create_app"]

API_PREFIX = "/api/v1"
_STATIC = resources.files("conveyor.ui") / "static"


def _open_context(config: UIConfig) -> UIContext:
    from conveyor.metadata import connect
    from conveyor.storage import open_store

    return UIContext(config, connect(config.metadata_url), open_store(config.artifact_root), {})


def create_app(config: UIConfig) -> FastAPI:
    """The UI app over the stores named by ``config`` (opened when the server starts)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = _open_context(config)
        app.state.ui = ctx
        try:
            yield
        finally:
            ctx.metadata.close()

    app = FastAPI(
        title="Conveyor",
        version=VERSION,
        description="The REST API of the Conveyor web UI: pipelines, runs, artifacts, lineage, "
        "metrics and models, over the metadata and artifact stores the CLI uses.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # FastAPI's interactive docs load their assets from a CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    app.middleware("http")(Guard(token=config.token, loopback=config.loopback))

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        fix = "check the id or name (the lists under /api/v1 show what exists)"
        return JSONResponse({"error": str(exc), "fix": fix}, status_code=404)

    @app.exception_handler(ConveyorError)
    async def _conveyor_error(request: Request, exc: ConveyorError) -> JSONResponse:
        fix = "correct the request as the error says"
        return JSONResponse({"error": str(exc), "fix": fix}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(part) for part in err.get("loc", ()) if part != "body")
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        return JSONResponse(
            {
                "error": "bad request: " + "; ".join(problems),
                "fix": "see the route's parameters in /api/v1/openapi.json (docs/ui-api.md)",
            },
            status_code=422,
        )

    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    app.mount("/static", StaticFiles(directory=str(_STATIC)), name="static")

    index = str(_STATIC / "index.html")

    @app.get("/{page:path}", include_in_schema=False)
    async def _page(page: str) -> Any:
        """Every other path is a page of the single-page app (it routes in the browser)."""
        if page.startswith("api/"):
            return JSONResponse(
                {"error": f"no API route /{page}", "fix": "see /api/v1/openapi.json"},
                status_code=404,
            )
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    return app
