"""Start the server: check the model, then run uvicorn with one or more worker processes."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import sys
from types import FrameType

from conveyor.model.saved import load_model
from conveyor.serve.app import CONFIG_ENV, ServeConfig, config_dict
from conveyor.serve.source import check_digest, open_source

__all__ = ["is_loopback", "prepare", "serve"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def prepare(
    spec: str, *, token: str | None, max_body_bytes: int, metadata_url: str | None = None
) -> ServeConfig:
    """Resolve ``spec``, check the recorded digest and load the model once, so a model that
    cannot be served is refused before any port is bound.

    Raises:
        ArtifactError: no model there, its digest does not match, or it cannot be loaded.
        NotFoundError: ``spec`` names a registered model, alias or version that is not.
    """
    source = open_source(spec, metadata_url=metadata_url)
    check_digest(source)
    load_model(source.path)
    return ServeConfig(
        path=source.path,
        name=source.name,
        version=source.version,
        token=token,
        max_body_bytes=max_body_bytes,
    )


def serve(config: ServeConfig, *, host: str, port: int, workers: int) -> None:
    """Serve until SIGTERM or Ctrl-C: uvicorn finishes the requests in flight, then the
    process exits 0 (uvicorn re-raises the signal it caught once it has shut down; the
    handlers set here turn that into a normal exit)."""
    import uvicorn

    os.environ[CONFIG_ENV] = json.dumps(config_dict(config))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    sys.stdout.flush()
    uvicorn.run(
        "conveyor.serve.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        timeout_graceful_shutdown=10,
        server_header=False,
    )


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)
