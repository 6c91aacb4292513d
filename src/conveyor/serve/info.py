"""``GET /v1/models/{name}``: what the server serves, with the model's example rows.

The answer names the model and its version, gives its task, classes and signature (inputs
with their types and domains, outputs) and the example rows kept with it at save time
(``null`` for a model saved without them). ``conveyor smoke-test`` sends those rows to the
predict route after a deployment. It is read from the model folder's files, so it answers
while the model loads; like every route but the probes, it needs the token when one is set
(the rows are training data).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from conveyor.errors import ArtifactError
from conveyor.model.examples import read_examples
from conveyor.model.saved import manifest_json

__all__ = ["INFO_ROUTE", "info_router", "model_info"]

INFO_ROUTE = "/v1/models/{name}"


def model_info(path: str, name: str, version: str | None) -> dict[str, Any]:
    """The answer of the info route for the model folder at ``path``.

    Example:
        >>> model_info("serving/census/17335", "census", "17335")["task"]  # doctest: +SKIP
        'classification'
    """
    manifest = manifest_json(path)
    try:
        examples = read_examples(path)
        problem = None
    except ArtifactError as exc:
        examples, problem = None, str(exc)
    info: dict[str, Any] = {
        "name": name,
        "version": version,
        "framework": manifest.get("framework"),
        "task": manifest.get("task"),
        "label": manifest.get("label"),
        "classes": manifest.get("classes"),
        "signature": manifest.get("signature"),
        "examples": examples,
    }
    if problem is not None:
        info["examples_error"] = problem
    return info


_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}
_ERROR = {"content": {"application/json": {"schema": _ERROR_SCHEMA}}}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "A token is set and the request has no or another one", **_ERROR},
    404: {"description": "The server serves another model", **_ERROR},
}


def info_router(
    path: str, name: str, version: str | None, *, current: Callable[[], Any] | None = None
) -> APIRouter:
    """A router with the info route of the model folder at ``path``.

    ``current`` gives the model serving now (an object with ``model.path``, ``name`` and
    ``version``, or None while it loads), so the route follows a hot swap; each folder's
    files are read once.
    """
    cache: dict[tuple[str, str, str | None], dict[str, Any]] = {}

    def info() -> dict[str, Any]:
        served = None if current is None else current()
        key = (path, name, version) if served is None else (
            str(served.model.path), str(served.name), served.version
        )  # fmt: skip
        if key not in cache:
            cache[key] = model_info(*key)
        return cache[key]

    info()  # a folder that cannot be read fails here, at start-up
    router = APIRouter()

    @router.get(INFO_ROUTE, responses=_RESPONSES)
    async def model(name: str) -> Response:
        """The model served here: name, version, task, classes, signature, example rows."""
        answer = info()
        if name != answer["name"]:
            return JSONResponse(
                {"error": f"No model {name!r} here; this server serves {answer['name']!r}"},
                status_code=404,
            )
        return JSONResponse(answer)

    return router
