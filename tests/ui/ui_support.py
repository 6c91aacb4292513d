"""Support of the UI tests: a real ``conveyor ui`` server in a subprocess over a project's
stores, and headless Chromium (Debian's, found on PATH; never downloaded) with every request
off the server refused, so a page that needed the internet would show it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "build" / "screenshots"
PIPELINES = REPO / "tests" / "integration" / "pipelines"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The first Chromium-family browser on PATH, or None."""
    return next(filter(None, map(shutil.which, BROWSERS)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without its CONVEYOR_* settings, pointed at ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env["CONVEYOR_HOME"] = str(home)
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


@dataclass
class UIServer:
    """A running ``conveyor ui``; ``client`` speaks its API (with the CSRF header)."""

    url: str
    project: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(
            base_url=self.url, timeout=30, headers={"X-Conveyor-CSRF": "test"}
        )

    def api(self, path: str, **params: Any) -> Any:
        """GET /api/v1{path}, asserted 200, as JSON."""
        response = self.client.get(f"/api/v1{path}", params=params)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def conveyor(self, *args: str, timeout: float = 180, check: bool = True) -> Any:
        """``python -m conveyor ARGS`` in the project, on the server's stores."""
        done = subprocess.run(
            [sys.executable, "-m", "conveyor", *args], cwd=self.project, env=self.env,
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if check:
            assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_ui(project: Path, *args: str, env: dict[str, str] | None = None) -> UIServer:
    """``conveyor ui --port P ARGS`` in ``project`` (stores under project/.conveyor unless
    ``env`` says otherwise), ready when its /healthz answers."""
    port = free_port()
    full = clean_env(project / ".conveyor", **(env or {}))
    log = project / f"ui-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "conveyor", "ui", "--port", str(port), *args],
            cwd=project, env=full, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = UIServer(f"http://127.0.0.1:{port}", project, full, proc, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"conveyor ui exited {proc.returncode}: {server.output()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise AssertionError(f"conveyor ui did not answer in 60 s: {server.output()}")


@contextmanager
def chromium_page(chromium: str, server_url: str, *, timeout_ms: int = 20_000) -> Iterator[Any]:
    """A headless Chromium page that may reach only ``server_url``: every other request is
    aborted and listed in ``page.refused``, page errors are collected in ``page.errors``, and
    either one fails the test when the page closes."""
    from playwright import sync_api

    refused: list[str] = []
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()

        def guard(route: Any) -> None:
            url = route.request.url
            if url.startswith(server_url) or url.startswith("data:"):
                route.continue_()
            else:
                refused.append(url)
                route.abort()

        page.route("**/*", guard)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.refused = refused
        page.errors = errors
        page.set_default_timeout(timeout_ms)
        try:
            yield page
        finally:
            context.close()
            browser.close()
    assert not refused, f"the UI asked for files off its server: {refused}"
    assert not errors, f"errors on the page: {errors}"


def copy_pipelines(dest: Path) -> Path:
    """A copy of the integration test pipelines at ``dest`` (a fresh project folder)."""
    shutil.copytree(PIPELINES, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest
