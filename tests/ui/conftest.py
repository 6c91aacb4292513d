"""Fixtures of the UI tests (helpers in ``ui_support.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_support import (
    SCREENSHOTS,
    UIServer,
    chromium_page,
    copy_pipelines,
    find_chromium,
    start_ui,
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the integration test pipelines in a fresh folder."""
    dest = tmp_path / "project"
    copy_pipelines(dest)
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
    with chromium_page(chromium, ui_server.url) as page:
        yield page


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    """``screenshot(page, "run-detail")`` saves build/screenshots/run-detail.png (full page)."""

    def take(page: Any, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
