"""Start the server: check the model, then run uvicorn with one or more worker processes."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import sys
from types import FrameType

from conveyor._internal.paths import is_remote, path_under, segment_problem
from conveyor.data.prediction_logs import UNVERSIONED
from conveyor.errors import ConfigError
from conveyor.model.saved import load_model
from conveyor.serve.app import CONFIG_ENV, ServeConfig, config_dict
from conveyor.serve.source import check_digest, open_source

__all__ = ["check_log_dir", "is_loopback", "prepare", "serve"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def prepare(
    spec: str,
    *,
    token: str | None,
    max_body_bytes: int,
    metadata_url: str | None = None,
    log_dir: str | None = None,
    log_rate: float = 1.0,
    log_rotate_seconds: float = 300.0,
) -> ServeConfig:
    """Resolve ``spec``, check the recorded digest and load the model once, so a model that
    cannot be served is refused before any port is bound; with ``log_dir``, check that the
    predictions can be logged there (:func:`check_log_dir`).

    Raises:
        ArtifactError: no model there, its digest does not match, or it cannot be loaded.
        NotFoundError: ``spec`` names a registered model, alias or version that is not.
        ConfigError: the predictions cannot be logged under ``log_dir``.
    """
    source = open_source(spec, metadata_url=metadata_url)
    check_digest(source)
    load_model(source.path)
    if log_dir is not None:
        log_dir = check_log_dir(log_dir, source.name, source.version)
    return ServeConfig(
        path=source.path,
        name=source.name,
        version=source.version,
        token=token,
        max_body_bytes=max_body_bytes,
        log_dir=log_dir,
        log_rate=log_rate,
        log_rotate_seconds=log_rotate_seconds,
    )


def check_log_dir(log_dir: str, name: str, version: str | None) -> str:
    """The prediction log folder ``log_dir`` (made absolute when local), once the model's
    name and version are known to be folder names and, for a local folder, the model's log
    folder stays inside it and can be created.

    Raises:
        ConfigError: a name that cannot be a folder, a folder outside the root, or one that
            cannot be created.
        MissingExtraError: the URL's fsspec backend (s3fs, gcsfs, adlfs) is not installed.
    """
    parts = (name, version or UNVERSIONED)
    for part in parts:
        problem = segment_problem(part)
        if problem is not None:
            raise ConfigError(
                f"Cannot log predictions of model {name!r} version {version!r}: {problem}. "
                "Serve the model under a plain name (a folder or registered name without '/')"
            )
    if is_remote(log_dir):
        from conveyor.storage import open_store

        open_store(log_dir)  # an fsspec backend that is not installed: MissingExtraError now
        return log_dir.rstrip("/")
    root = os.path.abspath(log_dir.removeprefix("file://"))
    folder = path_under(root, *parts, error=ConfigError)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"Cannot create the prediction log folder {folder!r}: {exc}. Give a writable --log-dir"
        ) from exc
    return root


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
