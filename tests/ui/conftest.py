"""Fixtures of the UI tests (helpers in ``ui_support.py``)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_support import PIPELINES, SCREENSHOTS, UIServer, find_chromium, start_ui


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the integration test pipelines in a fresh folder."""
    dest = tmp_path / "project"
    shutil.copytree(PIPELINES, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.fixture
def ui_server(project: Path) -> Iterator[UIServer]:
    """``conveyor ui`` over the project's default stores (SQLite, a local folder)."""
    server = start_ui(project)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium on PATH: apt-get install -y chromium (.ci/run does)")
    return path


@pytest.fixture
def browser_page(chromium: str, ui_server: UIServer) -> Iterator[Any]:
    """A headless Chromium page on the UI server; requests anywhere else are aborted (and
    listed in ``page.refused``), page errors collected in ``page.errors``."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        refused: list[str] = []
        errors: list[str] = []

        def guard(route: Any) -> None:
            url = route.request.url
            if url.startswith(ui_server.url) or url.startswith("data:"):
                route.continue_()
            else:
                refused.append(url)
                route.abort()

        page.route("**/*", guard)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.refused = refused
        page.errors = errors
        page.set_default_timeout(20_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()
    assert not refused, f"the UI asked for files off its server: {refused}"


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    """``screenshot(page, "run-detail")`` saves build/screenshots/run-detail.png (full page)."""

    def take(page: Any, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
