"""The UI's shell in headless Chromium: it loads offline, navigates without reloads."""

from __future__ import annotations

from typing import Any

import pytest
from ui_support import UIServer

pytestmark = pytest.mark.slow


def test_the_shell_loads_with_no_request_off_the_server(
    browser_page: Any, ui_server: UIServer, screenshot: Any
):
    page = browser_page
    page.goto(f"{ui_server.url}/runs")
    page.wait_for_selector("header nav a.active")
    assert page.locator("header nav a.active").inner_text() == "Runs"
    page.click("header nav a[data-nav=models]")
    page.wait_for_url(f"{ui_server.url}/models")
    assert page.locator("header nav a.active").inner_text() == "Models"
    assert not page.errors
