"""The run actions and the gc page in headless Chromium on a real server: clone a run with a
changed parameter and see the new run, terminate a long run (CANCELED, its exit handler ran),
archive and restore a run (it leaves and returns to the runs list), and collect garbage."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_support import UIServer, chromium_page, copy_pipelines, start_ui

from conveyor.metadata import CONTEXT_RUN, connect

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    project = tmp_path_factory.mktemp("actions-browser") / "project"
    copy_pipelines(project)
    server = start_ui(project)
    yield server
    server.stop()


@pytest.fixture
def page(chromium: str, server: UIServer) -> Iterator[Any]:
    """A headless Chromium page on the module's server; requests elsewhere refused."""
    with chromium_page(chromium, server.url) as page:
        yield page


def _props(server: UIServer, run_id: str) -> dict[str, Any] | None:
    store = connect(f"sqlite:///{server.project}/.conveyor/metadata.db")
    try:
        ctx = store.find_context(CONTEXT_RUN, run_id)
        return dict(ctx.properties) if ctx is not None else None
    finally:
        store.close()


def _wait(predicate: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def _open_run(page: Any, server: UIServer, run_id: str) -> Any:
    """The run's page, and the action bar in its header."""
    page.goto(f"{server.url}/runs/{run_id}")
    bar = page.locator(f'.run-header .actions[data-run="{run_id}"]')
    bar.wait_for()
    return bar


def test_clone_a_run_with_a_changed_parameter(page: Any, server: UIServer, screenshot: Any):
    server.conveyor("run", "basic.py:demo", "-p", "text=abc", "--run-id", "to-clone", "-q")
    bar = _open_run(page, server, "to-clone")
    assert bar.locator('[data-action="retry"]').count() == 0  # COMPLETE: nothing to retry
    bar.locator('[data-action="clone"]').click()
    dialog = page.locator("dialog.clone-dialog")
    field = dialog.locator('input[data-param="C"]')
    assert field.input_value() == "1"
    field.fill("oops")
    dialog.locator('[data-dialog-action="start"]').click()
    dialog.locator(".action-error").wait_for()
    assert "'C'" in dialog.locator(".action-error").inner_text()  # refused, named, not started
    field.fill("2.5")
    screenshot(page, "run-clone-dialog")
    dialog.locator('[data-dialog-action="start"]').click()
    page.wait_for_url("**/runs/*?starting=1")
    new_id = page.url.split("/runs/")[1].split("?")[0]
    assert new_id != "to-clone"
    _wait(lambda: (_props(server, new_id) or {}).get("state") == "COMPLETE")
    props = _props(server, new_id)
    assert props is not None and props["parameters"] == {"text": "abc", "C": 2.5}
    assert _props(server, "to-clone")["parameters"]["C"] == 1.0  # type: ignore[index]
    page.goto(f"{server.url}/runs")
    page.locator(f'tr[data-run="{new_id}"]').wait_for()  # the new run is listed


def test_terminate_a_long_run(page: Any, server: UIServer, screenshot: Any, tmp_path: Path):
    marker, status = tmp_path / "dozing", tmp_path / "status.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "conveyor", "run", "actions_pipelines.py:sleeper", "-p",
         f"marker={marker}", "-p", f"path={status}", "--run-id", "long-run", "-q"],
        cwd=server.project, env=server.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait(marker.exists, 60)
        bar = _open_run(page, server, "long-run")
        assert bar.locator('[data-action="delete"]').count() == 0  # not while RUNNING
        assert bar.locator('[data-action="archive"]').count() == 0
        bar.locator('[data-action="terminate"]').click()
        page.locator('dialog.confirm-dialog [data-dialog-action="terminate"]').click()
        _wait(lambda: (_props(server, "long-run") or {}).get("state") == "CANCELED", 30)
        assert proc.wait(30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert json.loads(status.read_text())["state"] == "CANCELED"  # the exit handler ran
    page.locator("#run-state", has_text="CANCELED").wait_for()  # the page shows it, unreloaded
    bar = _open_run(page, server, "long-run")
    bar.locator('[data-action="retry"]').wait_for()  # CANCELED: retry offered
    assert bar.locator('[data-action="terminate"]').count() == 0
    screenshot(page, "run-terminated")


def test_archive_and_restore_a_run(page: Any, server: UIServer, screenshot: Any):
    server.conveyor("run", "basic.py:demo", "-p", "text=keep", "--run-id", "shelved", "-q")
    server.conveyor("run", "basic.py:demo", "-p", "text=stay", "--run-id", "stays", "-q")
    page.goto(f"{server.url}/runs")
    page.locator('tr[data-run="shelved"]').wait_for()
    bar = _open_run(page, server, "shelved")
    bar.locator('[data-action="archive"]').click()
    _wait(lambda: (_props(server, "shelved") or {}).get("lifecycle") == "archived", 10)
    page.goto(f"{server.url}/runs")
    page.locator('tr[data-run="stays"]').wait_for()
    assert page.locator('tr[data-run="shelved"]').count() == 0  # left the default list
    page.goto(f"{server.url}/runs?lifecycle=archived")
    page.locator('tr[data-run="shelved"]').wait_for()
    screenshot(page, "runs-archived")
    bar = _open_run(page, server, "shelved")
    bar.locator('[data-action="restore"]').click()
    _wait(lambda: not (_props(server, "shelved") or {}).get("lifecycle"), 10)
    page.goto(f"{server.url}/runs")
    page.locator('tr[data-run="shelved"]').wait_for()  # back in the list


def test_delete_shows_what_it_frees_and_gc_collects(page: Any, server: UIServer, screenshot: Any):
    server.conveyor("run", "basic.py:demo", "-p", "text=bin", "--run-id", "binned", "-q")
    bar = _open_run(page, server, "binned")
    bar.locator('[data-action="delete"]').click()
    frees = page.locator("dialog.delete-dialog .delete-frees")
    assert frees.inner_text().startswith("4 artifact(s), ")
    page.locator('dialog.delete-dialog [data-dialog-action="delete"]').click()
    _wait(lambda: (_props(server, "binned") or {}).get("lifecycle") == "deleted", 10)
    page.goto(f"{server.url}/gc")
    page.locator("table.gc-plan tr[data-artifact]").first.wait_for()
    uris = [server.api("/gc")["artifacts"][i]["uri"] for i in range(4)]
    assert all(Path(u).exists() for u in uris)
    assert page.locator(".gc-total").inner_text().endswith("B")
    screenshot(page, "gc-plan")
    page.locator('[data-action="collect"]').click()
    page.locator(".gc-done").wait_for()
    page.locator(".gc-empty").wait_for()
    assert not any(Path(u).exists() for u in uris)


def test_retry_a_failed_run_in_place(page: Any, server: UIServer, tmp_path: Path):
    tally, gate = tmp_path / "tally", tmp_path / "gate"
    failed = server.conveyor(
        "run", "actions_pipelines.py:mend", "-p", f"tally={tally}", "-p", f"gate={gate}",
        "--run-id", "mend-ui", "-q", check=False,
    )  # fmt: skip
    assert failed.returncode == 1
    gate.touch()
    bar = _open_run(page, server, "mend-ui")
    bar.locator('[data-action="retry"]').click()
    page.wait_for_url("**/runs/mend-ui?starting=1")
    _wait(lambda: (_props(server, "mend-ui") or {}).get("state") == "COMPLETE")
    page.locator("#run-state", has_text="COMPLETE").wait_for()  # the page follows the run
    assert tally.read_text().splitlines() == ["produce", "conclude"]
