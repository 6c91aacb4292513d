"""Online serving: ``conveyor serve`` answers predictions over HTTP (FastAPI and uvicorn).

Only this package imports ``fastapi``, ``starlette`` and ``uvicorn`` (an import-linter
contract); nothing on the path of ``conveyor run`` imports it.
"""

from __future__ import annotations

from conveyor.serve.source import (
    ModelSource,
    check_digest,
    describe,
    model_source,
    open_source,
)

__all__ = ["ModelSource", "check_digest", "describe", "model_source", "open_source"]
