"""``conveyor serve MODEL``: answer predictions of a model over HTTP."""

from __future__ import annotations

import click

from conveyor.cli._common import _console, _errors, _settings

__all__ = ["serve"]


@click.command(name="serve")
@click.argument("model")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1, 64),
    help="Worker processes (each loads the model and keeps its own metrics).",
)  # fmt: skip
@click.option(
    "--max-body-bytes", default=10 * 1024 * 1024, show_default=True, type=click.IntRange(1),
    help="Largest request body; larger ones get 413 unread.",
)  # fmt: skip
@click.option("--token", default=None, help="Bearer token every request but the probes needs.")
@click.option(
    "--insecure", is_flag=True,
    help="Serve off loopback without a token: anyone who reaches the port may predict.",
)  # fmt: skip
@_errors
def serve(
    model: str,
    host: str,
    port: int,
    workers: int,
    max_body_bytes: int,
    token: str | None,
    insecure: bool,
) -> None:
    """Serve MODEL (a trainer's model folder, a pushed version or models:/NAME@ALIAS) over HTTP.

    POST /v1/models/NAME:predict with {"rows": [...]} or {"columns": {...}}; probes at
    /healthz and /readyz, Prometheus metrics at /metrics, the API at /docs. Stops cleanly on
    SIGTERM or Ctrl-C.
    """
    from conveyor.serve.server import is_loopback, prepare
    from conveyor.serve.server import serve as run_server

    if token is not None and insecure:
        raise click.UsageError("Give --token or --insecure, not both")
    if token is not None and not token.strip():
        raise click.UsageError("--token is empty; give a secret string")
    if not is_loopback(host) and token is None and not insecure:
        raise click.UsageError(
            f"--host {host} is reachable from other machines: give --token SECRET (clients "
            "send Authorization: Bearer SECRET) or --insecure to serve without one"
        )
    metadata_url = _settings().metadata_url if model.startswith("models:/") else None
    config = prepare(model, token=token, max_body_bytes=max_body_bytes, metadata_url=metadata_url)
    err = _console(stderr=True)
    if insecure and not is_loopback(host):
        err.print(
            f"[bold yellow]warning:[/] serving on {host} without a token (--insecure): anyone "
            "who can reach this port can call the model and read its metrics and API"
        )
    version = f" version {config.version}" if config.version else ""
    err.print(
        f"Serving model {config.name!r}{version} from {config.path} at "
        f"http://{host}:{port}/v1/models/{config.name}:predict"
    )
    run_server(config, host=host, port=port, workers=workers)
