"""The compare and metric charts pages in headless Chromium, over a real server and two runs of
a pipeline that logs a curve with ``conveyor.log_metric`` (one server, two runs per module)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_support import UIServer, chromium_page, copy_pipelines, start_ui

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    project = tmp_path_factory.mktemp("compare-browser") / "project"
    copy_pipelines(project)
    ui = start_ui(project)
    yield ui
    ui.stop()


@pytest.fixture(scope="module")
def two_runs(server: UIServer) -> tuple[str, str]:
    def run(*args: str) -> str:
        done = server.conveyor("run", "tracked.py:tracked", "--json", "-q", *args)
        return str(json.loads(done.stdout)["run_id"])

    return run("--param", "epochs=20"), run("--param", "epochs=30")


@pytest.fixture
def page(chromium: str, server: UIServer) -> Iterator[Any]:
    """A Chromium page that may reach only the server (anything else fails the test)."""
    with chromium_page(chromium, server.url) as page:
        yield page


def test_compare_page_highlights_the_changed_parameter(
    page: Any,
    server: UIServer,
    two_runs: tuple[str, str],
    screenshot: Callable[[Any, str], Path],
) -> None:
    first, second = two_runs
    page.goto(f"{server.url}/compare?runs={first}&runs={second}")
    epochs = page.locator('tr[data-section="parameter"][data-name="epochs"]')
    epochs.wait_for()
    assert epochs.get_attribute("class") == "diff"
    assert epochs.locator("td").all_inner_texts() == ["20", "30"]
    same = page.locator('tr[data-section="metric"][data-name="accuracy"]')
    assert same.get_attribute("data-differs") == "false" and same.get_attribute("class") is None
    headers = page.locator("th.compare-run").evaluate_all("els => els.map(e => e.dataset.run)")
    assert headers == [first, second]
    screenshot(page, "compare")

    page.locator("#compare-only").check()
    page.wait_for_url("**only=1**")
    page.locator('tr[data-name="accuracy"]').wait_for(state="detached")
    rows = page.locator("tbody tr[data-differs]")
    assert rows.count() >= 2
    assert set(rows.evaluate_all("els => els.map(e => e.dataset.differs)")) == {"true"}

    page.locator(f'th[data-run="{second}"] button.remove-run').click()
    page.wait_for_url(lambda url: second not in url)
    page.locator(f'th[data-run="{second}"]').wait_for(state="detached")
    page.locator("#compare-add").fill(second)
    page.locator("#compare-controls button[type=submit]").click()
    page.locator(f'th[data-run="{second}"]').wait_for()
    assert page.evaluate("location.search").endswith(f"runs={second}&only=1")

    page.goto(f"{server.url}/compare?runs={first}&runs=no-such-run")
    assert "no-such-run" in page.locator(".error").inner_text()


def test_charts_overlay_two_runs_with_smoothing(
    page: Any,
    server: UIServer,
    two_runs: tuple[str, str],
    screenshot: Callable[[Any, str], Path],
) -> None:
    first, second = two_runs
    page.goto(f"{server.url}/charts?runs={first}&runs={second}&name=loss&smoothing=0")
    canvas = page.locator('.chart-card[data-metric="loss"] canvas[data-render-ms]')
    canvas.wait_for()
    assert int(canvas.get_attribute("data-points")) == 20 + 30  # every point of both runs
    assert float(canvas.get_attribute("data-render-ms")) < 1000
    assert page.locator(".chart-card").count() == 1  # only the named metric is drawn
    names = page.locator("#chart-names input").evaluate_all("els => els.map(e => e.dataset.name)")
    assert names == ["accuracy", "auc", "loss"]
    assert page.locator("#chart-legend .legend-item").all_inner_texts() == [first, second]

    before = canvas.screenshot()
    page.locator("#chart-smoothing").fill("0.9")
    page.wait_for_url("**smoothing=0.90**")
    assert canvas.get_attribute("data-points") == str(2 * (20 + 30))  # raw faint + smoothed
    assert canvas.screenshot() != before

    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    tip = page.locator(".chart-tip")
    tip.wait_for(state="visible")
    text = tip.inner_text()
    assert first in text and second in text and "smoothed" in text

    page.locator("#chart-log").check()
    page.wait_for_url("**log=1**")
    page.locator('#chart-names input[data-name="accuracy"]').check()
    page.locator('.chart-card[data-metric="accuracy"] canvas').wait_for()
    page.mouse.move(0, 0)
    screenshot(page, "charts")

    page.locator("#chart-x").select_option("time")
    page.wait_for_url("**x=time**")
    page.locator('.chart-card[data-metric="loss"] canvas').wait_for()
    assert page.locator(".chart-card").count() == 2
