"""Start the server: check the model, then run uvicorn with one or more worker processes."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import sys
import tempfile
from types import FrameType

from conveyor._internal.paths import is_remote, path_under, segment_problem
from conveyor.data.prediction_logs import UNVERSIONED
from conveyor.errors import ConfigError
from conveyor.model.saved import load_model
from conveyor.serve.app import CONFIG_ENV, ServeConfig, config_dict
from conveyor.serve.metrics import MULTIPROC_ENV, clear_multiproc_dir
from conveyor.serve.source import check_digest, open_source
from conveyor.serve.swap import Target, is_alias_uri

__all__ = ["check_log_dir", "is_loopback", "prepare", "serve"]

WORKER_START_TIMEOUT = 60
"""Seconds a new worker has to answer the supervisor (uvicorn's health check) when started."""


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
    poll_seconds: float = 0.0,
    canary: tuple[str, float] | None = None,
    shadow: str | None = None,
) -> ServeConfig:
    """Resolve ``spec`` (and the ``canary`` model with its share of traffic, and the
    ``shadow`` model), check each recorded digest and load each model once, so a model that
    cannot be served is refused before any port is bound; with ``log_dir``, check that the
    predictions can be logged there (:func:`check_log_dir`).

    Raises:
        ArtifactError: no model there, its digest does not match, or it cannot be loaded.
        NotFoundError: ``spec`` names a registered model, alias or version that is not.
        ConfigError: the predictions cannot be logged under ``log_dir``, ``poll_seconds``
            without any ``models:/NAME@ALIAS`` to poll, or a canary or shadow whose inputs
            are not the primary's (names and types).
    """
    primary, inputs = _target(spec, metadata_url)
    canary_target = None if canary is None else _second("--canary", canary[0], metadata_url, inputs)
    shadow_target = None if shadow is None else _second("--shadow", shadow, metadata_url, inputs)
    targets = [t for t in (primary, canary_target, shadow_target) if t is not None]
    polled = [t.uri for t in targets if is_alias_uri(t.uri)]
    if poll_seconds > 0 and not polled:
        raise ConfigError(
            f"--poll-seconds {poll_seconds:g}: no model is served through an alias "
            "(models:/NAME@ALIAS), so there is nothing to poll. Serve models:/NAME@ALIAS, or "
            "leave the option out"
        )
    if log_dir is not None:  # every model's log folder is checked; the root is one
        log_dir = {check_log_dir(log_dir, t.name, t.version) for t in targets}.pop()
    return ServeConfig(
        path=primary.path,
        name=primary.name,
        version=primary.version,
        token=token,
        max_body_bytes=max_body_bytes,
        log_dir=log_dir,
        log_rate=log_rate,
        log_rotate_seconds=log_rotate_seconds,
        uri=primary.uri,
        metadata_url=metadata_url if polled else None,
        poll_seconds=poll_seconds,
        canary=canary_target,
        canary_fraction=0.0 if canary is None else canary[1],
        shadow=shadow_target,
    )


def _target(spec: str, metadata_url: str | None) -> tuple[Target, list[tuple[str, str]]]:
    source = open_source(spec, metadata_url=metadata_url)
    check_digest(source)
    model = load_model(source.path)
    uri = spec if spec.startswith("models:/") else None
    inputs = [(str(i["name"]), str(i["type"])) for i in model.signature["inputs"]]
    return Target(source.path, source.name, source.version, uri), inputs


def _second(
    option: str, spec: str, metadata_url: str | None, primary: list[tuple[str, str]]
) -> Target:
    """The canary or shadow model, refused when it takes other inputs than the primary: the
    same request goes to both."""
    target, inputs = _target(spec, metadata_url)
    if sorted(inputs) != sorted(primary):
        ours, theirs = dict(primary), dict(inputs)
        diff = [
            f"{n}: {ours.get(n, 'absent')} in the primary, {theirs.get(n, 'absent')} here"
            for n in sorted(set(ours) | set(theirs))
            if ours.get(n) != theirs.get(n)
        ]
        raise ConfigError(
            f"{option} {spec}: its inputs differ from the primary model's ({'; '.join(diff)}), "
            "so it cannot answer the same requests. Give a version of the same model"
        )
    return target


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
    handlers set here turn that into a normal exit).

    Every worker writes its metrics to one directory, so ``/metrics`` reports the whole
    server: :data:`~conveyor.serve.metrics.MULTIPROC_ENV` if set (emptied of old counts
    first), else a temporary directory removed at exit."""
    os.environ[CONFIG_ENV] = json.dumps(config_dict(config))
    own_dir = not os.environ.get(MULTIPROC_ENV)
    metrics_dir = (
        tempfile.mkdtemp(prefix="conveyor-metrics-") if own_dir else os.environ[MULTIPROC_ENV]
    )
    clear_multiproc_dir(metrics_dir)  # a kept directory: the last server's counts go
    os.environ[MULTIPROC_ENV] = metrics_dir
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    sys.stdout.flush()
    try:
        _run(host=host, port=port, workers=workers)
    finally:
        if own_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _run(*, host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "conveyor.serve.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        timeout_graceful_shutdown=10,
        # a worker started by SIGHUP imports and loads the model on a busy machine: give it
        # time before the restart is abandoned (and before a slow health ping kills a worker)
        timeout_worker_healthcheck=WORKER_START_TIMEOUT,
        server_header=False,
    )


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)
