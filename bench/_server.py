"""``conveyor serve`` in a subprocess on a free loopback port, for the serving benchmarks.

``bench/`` is not a package: a script imports this module as ``from _server import Server``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

__all__ = ["Server", "add_round_arguments", "free_port"]


def free_port() -> int:
    """A port nobody listens on now, on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``conveyor serve MODEL *extra`` on a free loopback port, ready when built (exits the
    benchmark with the server's output when it is not); its output goes to a file, since a
    busy server (or a shadow's logged answers) writes more than a pipe holds."""

    def __init__(self, model: str, *extra: str, ready_seconds: float = 120) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        fd, self.log = tempfile.mkstemp(prefix="conveyor-bench-server-", suffix=".log")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "conveyor", "serve", model, "--port", str(self.port), *extra],
            stdout=fd, stderr=subprocess.STDOUT,
        )  # fmt: skip
        os.close(fd)
        deadline = time.monotonic() + ready_seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"conveyor serve exited {self.proc.returncode}: {self.output()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.proc.kill()
        sys.exit(f"conveyor serve did not get ready in {ready_seconds:.0f} s: {self.output()}")

    def output(self) -> str:
        """The end of what the server wrote."""
        return Path(self.log).read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        """SIGTERM; the server must finish and exit 0 within 60 s."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            sys.exit(f"conveyor serve did not stop in 60 s after SIGTERM: {self.output()}")
        if code != 0:
            sys.exit(f"conveyor serve exited {code} on SIGTERM: {self.output()}")
        os.remove(self.log)


def add_round_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a bench that compares servers in interleaved rounds of requests."""
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200, help="1-row requests per round")
    parser.add_argument("--batches", type=int, default=10, help="1,000-row requests per round")
    parser.add_argument(
        "--data-dir", default=os.path.join(tempfile.gettempdir(), "conveyor-batch-bench")
    )
    parser.add_argument("--json", default=None, help="also write the results here")
