"""``conveyor ui``: the web UI and its REST API over the configured stores."""

from __future__ import annotations

import click

from conveyor.cli._common import _console, _errors, _settings

__all__ = ["ui"]


@click.command(name="ui")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0: any free port, printed when the server listens).")  # fmt: skip
@click.option(
    "--token", default=None, envvar="CONVEYOR_UI_TOKEN",
    help="Secret every request must carry (or CONVEYOR_UI_TOKEN): browsers open "
    "/login?token=SECRET once, API clients send Authorization: Bearer SECRET.",
)  # fmt: skip
@click.option(
    "--insecure", is_flag=True,
    help="Serve off loopback without a token: anyone who reaches the port may act on runs.",
)  # fmt: skip
@_errors
def ui(host: str, port: int, token: str | None, insecure: bool) -> None:
    """Serve the web UI and its REST API (/api/v1, spec at /api/v1/openapi.json).

    Pipelines, experiments and runs (with retry, clone, terminate, archive, delete), run
    graphs with live state and logs, artifacts, lineage, run comparison and metric charts, the
    model registry, and garbage collection, over the metadata and artifact stores that
    `conveyor run` uses. Everything is served by the package: no internet needed.
    """
    import os

    from conveyor.ui import UIConfig, serve_ui
    from conveyor.ui.security import is_loopback_host

    if token is not None and insecure:
        raise click.UsageError("Give --token or --insecure, not both")
    if token is not None and not token.strip():
        raise click.UsageError("--token is empty; give a secret string")
    loopback = is_loopback_host(host)
    if not loopback and token is None and not insecure:
        raise click.UsageError(
            f"--host {host} is reachable from other machines: give --token SECRET (or set "
            "CONVEYOR_UI_TOKEN) or --insecure to serve without one"
        )
    settings = _settings()
    environment = (
        ("CONVEYOR_HOME", settings.home),
        ("CONVEYOR_METADATA_URL", settings.metadata_url),
        ("CONVEYOR_ARTIFACT_ROOT", settings.artifact_root),
    )
    config = UIConfig(
        metadata_url=settings.metadata_url, artifact_root=settings.artifact_root,
        home=os.path.abspath(settings.home), token=token, loopback=loopback,
        environment=environment,
    )  # fmt: skip
    err = _console(stderr=True)
    if insecure and not loopback:
        err.print(
            f"[bold yellow]warning:[/] serving on {host} without a token (--insecure): anyone "
            "who can reach this port can see every run and act on it"
        )

    def ready(url: str) -> None:
        login = f" (first open {url}login?token=...)" if token else ""
        err.print(f"Conveyor UI at {url}{login}", soft_wrap=True)

    serve_ui(config, host=host, port=port, on_ready=ready)
