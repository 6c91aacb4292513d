"""``serve_ui``: run the UI app under uvicorn (one process; the stores are shared by threads)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import uvicorn

from conveyor.ui.app import create_app
from conveyor.ui.context import UIConfig

__all__ = ["serve_ui"]


def serve_ui(
    config: UIConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM. ``on_ready`` gets the URL once the socket listens."""
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config), host=host, port=port, log_level="warning", access_log=False,
            proxy_headers=False, server_header=False,
        )
    )  # fmt: skip
    if on_ready is not None:
        threading.Thread(
            target=_announce, args=(server, host, on_ready), name="conveyor-ui-ready", daemon=True
        ).start()
    server.run()


def _announce(server: uvicorn.Server, host: str, on_ready: Callable[[str], None]) -> None:
    """Call ``on_ready`` with the URL once uvicorn listens (the port, when 0 was asked)."""
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.02)
    sockets = [s for srv in server.servers for s in (srv.sockets or ())]
    port = sockets[0].getsockname()[1] if sockets else server.config.port
    shown = f"[{host}]" if ":" in host else host
    on_ready(f"http://{shown}:{port}/")
