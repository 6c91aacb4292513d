"""The runs list and the experiments page in headless Chromium: filter, go back, sort, page,
select runs for /compare, open a run, and reach the runs of an experiment."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ui_support import UIServer

from conveyor.metadata import CONTEXT_RUN, connect

pytestmark = pytest.mark.slow


def _rows(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        "table.runs tbody tr[data-run]", "rows => rows.map(r => r.dataset.run)"
    )


def _wait_rows(page: Any, want: list[str]) -> None:
    page.wait_for_function(
        "want => JSON.stringify([...document.querySelectorAll('table.runs tbody tr[data-run]')]"
        ".map(r => r.dataset.run)) === JSON.stringify(want)",
        arg=want,
    )


def test_the_runs_list_filters_sorts_pages_and_opens_a_run(
    ui_server: UIServer, browser_page: Any, screenshot: Callable[[Any, str], Path]
) -> None:
    run = ui_server.conveyor
    run("run", "basic.py:demo", "--param", "C=0.5", "--experiment", "ex-a", "--run-id", "r1")
    run("run", "basic.py:demo", "--param", "C=2", "--experiment", "ex-a", "--run-id", "r2")
    run("run", "tracked.py", "--param", "epochs=3", "--experiment", "ex-b", "--run-id", "r3")
    run("run", "basic.py:branches", "--run-id", "r4", check=False)
    page = browser_page
    page.goto(f"{ui_server.url}/runs")
    _wait_rows(page, ["r4", "r3", "r2", "r1"])
    assert page.inner_text(".pager .total") == "4 runs"
    headers = page.eval_on_selector_all("table.runs th", "ths => ths.map(t => t.textContent)")
    assert "C" in headers and "train.metrics.score" in headers  # parameter and metric columns
    assert page.inner_text("tr[data-run=r4] .badge") == "FAILED"
    screenshot(page, "runs-list")

    # a parameter filter goes into the URL; the back button undoes it
    page.fill("input[name=param]", "C>=1")
    page.click("#run-filters button[type=submit]")
    _wait_rows(page, ["r2"])
    assert "param=C%3E%3D1" in page.url
    page.go_back()
    _wait_rows(page, ["r4", "r3", "r2", "r1"])
    page.check("input[name=state][value=FAILED]")
    page.click("#run-filters button[type=submit]")
    _wait_rows(page, ["r4"])

    # sort by run id: first click descending, second ascending; then pages of two
    page.goto(f"{ui_server.url}/runs")
    _wait_rows(page, ["r4", "r3", "r2", "r1"])
    page.click("th[data-sort=run_id]")
    page.wait_for_url("**/runs?sort=-run_id")
    page.click("th[data-sort=run_id]")
    _wait_rows(page, ["r1", "r2", "r3", "r4"])
    assert page.url.endswith("/runs?sort=run_id")
    page.goto(f"{ui_server.url}/runs?sort=run_id&limit=2")
    _wait_rows(page, ["r1", "r2"])
    page.click(".pager >> nth=0 >> button.next")
    _wait_rows(page, ["r3", "r4"])
    assert "offset=2" in page.url and page.inner_text(".pager .total") == "4 runs"
    assert page.is_disabled(".pager >> nth=0 >> button.next")
    page.click(".pager >> nth=0 >> button.prev")
    _wait_rows(page, ["r1", "r2"])

    # two runs selected: Compare opens /compare with both
    assert page.is_disabled("button.compare")
    page.check("tr[data-run=r1] input[type=checkbox]")
    page.check("tr[data-run=r2] input[type=checkbox]")
    page.click("button.compare")
    page.wait_for_url("**/compare?runs=r1&runs=r2")

    # open a run from the list
    page.goto(f"{ui_server.url}/runs?metric=train.metrics.score%3E6")
    _wait_rows(page, ["r2"])
    page.click("tr[data-run=r2] a[href='/runs/r2']")
    page.wait_for_url("**/runs/r2")

    # experiments: counts by state, a link to the experiment's runs
    page.goto(f"{ui_server.url}/experiments")
    page.wait_for_selector("tr[data-experiment=ex-a]")
    names = page.eval_on_selector_all(
        "tr[data-experiment]", "rows => rows.map(r => r.dataset.experiment)"
    )
    assert names == ["ex-b", "ex-a"]
    assert "2" in page.inner_text("tr[data-experiment=ex-a]")
    screenshot(page, "experiments")
    page.click("tr[data-experiment=ex-a] a >> nth=0")
    _wait_rows(page, ["r2", "r1"])
    assert page.input_value("input[name=experiment]") == "ex-a"
    assert not page.errors, page.errors


def test_the_runs_list_refreshes_while_a_run_is_running(
    ui_server: UIServer, browser_page: Any
) -> None:
    store = connect(ui_server.api("/info")["metadata_url"])
    try:
        started = time.time()
        live = store.put_context(
            CONTEXT_RUN, "live", {"pipeline": "demo", "state": "RUNNING", "started_at": started}
        )
        page = browser_page
        page.goto(f"{ui_server.url}/runs")
        page.wait_for_selector("tr[data-run=live] .badge.RUNNING")
        store.update_context(
            live.id,
            {"state": "COMPLETE", "finished_at": started + 2, "duration_seconds": 2.0},
        )
        # no reload: the page asks again every few seconds while a listed run is RUNNING
        page.wait_for_selector("tr[data-run=live] .badge.COMPLETE", timeout=15_000)
        assert "2.00 s" in page.inner_text("tr[data-run=live]")
        assert not page.errors, page.errors
    finally:
        store.close()
