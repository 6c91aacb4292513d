"""What every route needs: the stores, opened once per server, and the configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from conveyor.metadata import MetadataStore
from conveyor.storage import ArtifactStore

__all__ = ["UIConfig", "UIContext", "ui_context"]


@dataclass(frozen=True)
class UIConfig:
    """How the UI server reaches its stores and who may use it.

    Args:
        metadata_url: the metadata store (``sqlite:///...`` or ``postgresql://...``).
        artifact_root: the artifact store's root (a folder or an fsspec URL); artifact files
            are served only from under it.
        home: Conveyor's home folder (step logs, launch logs of runs the UI starts).
        token: when set, every request but ``/healthz`` must carry it (``Authorization: Bearer``
            or the cookie ``/login?token=...`` sets).
        loopback: the server listens on a loopback address only; requests must then name a
            loopback host (``Host`` header), which stops DNS-rebinding pages.
        environment: extra environment variables for the runs the UI launches (the settings
            that point them at the same stores).
    """

    metadata_url: str
    artifact_root: str
    home: str
    token: str | None = None
    loopback: bool = True
    environment: tuple[tuple[str, str], ...] = ()


@dataclass
class UIContext:
    """The server's open stores (both are safe to share between threads)."""

    config: UIConfig
    metadata: MetadataStore
    artifacts: ArtifactStore
    cache: dict[str, Any]
    """Small values worth keeping between requests (keyed by the module that owns them)."""


def ui_context(request: Request) -> UIContext:
    """The route dependency: ``ctx: UIContext = Depends(ui_context)``."""
    ctx: UIContext = request.app.state.ui
    return ctx
