"""``GET /api/v1/info``: what this server serves (version, stores, whether actions need a token)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from conveyor._internal.version import VERSION
from conveyor.ui.context import UIContext, ui_context

__all__ = ["redact_url", "router"]

router = APIRouter(tags=["system"])


def redact_url(url: str) -> str:
    """A store URL without its password (``postgresql://u:SECRET@h/db`` -> ``u:***@h``)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user, colon, _password = credentials.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"


@router.get("/info")
def info(ctx: UIContext = Depends(ui_context)) -> dict[str, Any]:
    """The server's version and stores (passwords left out)."""
    return {
        "version": VERSION,
        "metadata_url": redact_url(ctx.config.metadata_url),
        "artifact_root": redact_url(ctx.config.artifact_root),
        "token_required": ctx.config.token is not None,
    }
