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
    help="Worker processes (each loads the model; /metrics counts them all).",
)  # fmt: skip
@click.option(
    "--max-body-bytes", default=10 * 1024 * 1024, show_default=True, type=click.IntRange(1),
    help="Largest request body; larger ones get 413 unread.",
)  # fmt: skip
@click.option(
    "--token", default=None, envvar="CONVEYOR_SERVE_TOKEN",
    help="Bearer token every request but the probes needs (or CONVEYOR_SERVE_TOKEN).",
)  # fmt: skip
@click.option(
    "--log-predictions", "log_rate", type=click.FloatRange(0, 1, min_open=True), default=None,
    is_flag=False, flag_value=1.0, metavar="[RATE]",
    help="Log the inputs and answers of this fraction of requests (all when no RATE is "
    "given) to Parquet under --log-dir.",
)  # fmt: skip
@click.option(
    "--log-dir", default=None, metavar="DIR",
    help="Where predictions are logged, a folder or fsspec URL (default: prediction_logs "
    "under the artifact root); one folder per model and version.",
)  # fmt: skip
@click.option(
    "--log-rotate-seconds", default=300.0, show_default=True, type=click.FloatRange(1),
    metavar="SECONDS",
    help="Publish each prediction log file once it is this old (also at 64 MB and on shutdown).",
)  # fmt: skip
@click.option(
    "--insecure", is_flag=True,
    help="Serve off loopback without a token: anyone who reaches the port may predict.",
)  # fmt: skip
@click.option(
    "--poll-seconds", default=0.0, show_default=True, type=click.FloatRange(0),
    help="Ask the registry this often whether a models:/NAME@ALIAS moved, and swap the new "
    "version in without dropping a request (0: never).",
)  # fmt: skip
@click.option(
    "--canary", default=None, metavar="MODEL=PERCENT%",
    help="A second model answering that share of the requests, e.g. "
    "models:/census@challenger=10% (split by the X-Request-Key header, or at random).",
)  # fmt: skip
@click.option(
    "--shadow", default=None, metavar="MODEL",
    help="A model that scores every request off the response path; its answers are logged, "
    "never returned.",
)  # fmt: skip
@_errors
def serve(
    model: str,
    host: str,
    port: int,
    workers: int,
    max_body_bytes: int,
    token: str | None,
    log_rate: float | None,
    log_dir: str | None,
    log_rotate_seconds: float,
    insecure: bool,
    poll_seconds: float,
    canary: str | None,
    shadow: str | None,
) -> None:
    """Serve MODEL (a trainer's model folder, a pushed version or models:/NAME@ALIAS) over HTTP.

    POST /v1/models/NAME:predict with {"rows": [...]} or {"columns": {...}}; probes at
    /healthz and /readyz, Prometheus metrics at /metrics, the API at /docs. Stops cleanly on
    SIGTERM or Ctrl-C; with --workers 2 or more, SIGHUP restarts the workers one by one.
    """
    from conveyor.serve.routing import parse_canary
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
    split = None if canary is None else parse_canary(canary)
    specs = [model, *([] if split is None else [split[0]]), *([] if shadow is None else [shadow])]
    registered = any(s.startswith("models:/") for s in specs)
    metadata_url = _settings().metadata_url if registered else None
    if log_dir is not None and log_rate is None:
        log_rate = 1.0  # a folder given: log every request unless a rate is
    if log_rate is not None and log_dir is None:
        log_dir = _settings().artifact_root.rstrip("/") + "/prediction_logs"
    config = prepare(
        model, token=token, max_body_bytes=max_body_bytes, metadata_url=metadata_url,
        log_dir=log_dir, log_rate=log_rate or 1.0, log_rotate_seconds=log_rotate_seconds,
        poll_seconds=poll_seconds, canary=split, shadow=shadow,
    )  # fmt: skip
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
    if config.log_dir is not None:
        err.print(
            f"Logging {config.log_rate * 100:g}% of requests to {config.log_dir}/{config.name}/"
            f"{config.version or 'unversioned'}",
            soft_wrap=True,
        )
    if config.canary is not None:
        err.print(
            f"Canary: {config.canary.uri or config.canary.path} version {config.canary.version} "
            f"answers {config.canary_fraction:.1%} of the requests"
        )
    if config.shadow is not None:
        err.print(f"Shadow: {config.shadow.uri or config.shadow.path} scores every request")
    if config.poll_seconds > 0:
        err.print(f"Polling the registry every {config.poll_seconds:g} s for alias moves")
    run_server(config, host=host, port=port, workers=workers)
