"""The run actions and garbage collection through the API of a real ``conveyor ui``: each a
POST answering JSON, errors as ``{"error", "fix"}`` with 400/404/409, retry and clone launched
as detached runs that complete."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ui_support import UIServer, copy_pipelines, start_ui

from conveyor.metadata import CONTEXT_RUN, connect


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    """One server over one project for the module (runs made by the tests share it)."""
    project = tmp_path_factory.mktemp("actions") / "project"
    copy_pipelines(project)
    server = start_ui(project)
    yield server
    server.stop()


def _run(server: UIServer, run_id: str) -> dict[str, Any] | None:
    """The run's properties as the store records them (None before it exists)."""
    store = connect(f"sqlite:///{server.project}/.conveyor/metadata.db")
    try:
        ctx = store.find_context(CONTEXT_RUN, run_id)
        return dict(ctx.properties) if ctx is not None else None
    finally:
        store.close()


def _wait_state(server: UIServer, run_id: str, states: tuple[str, ...], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    props: Any = None
    while time.monotonic() < deadline:
        props = _run(server, run_id)
        if props is not None and props.get("state") in states:
            return props
        time.sleep(0.25)
    raise AssertionError(f"run {run_id} never reached {states}: {props}")


def _post(server: UIServer, path: str, body: Any = None) -> httpx.Response:
    """POST with the client's CSRF header (and no cookie of an earlier answer to disagree)."""
    server.client.cookies.clear()
    return server.client.post(f"/api/v1{path}", json=body)


def test_archive_restore_delete_and_their_errors(server: UIServer):
    server.conveyor("run", "basic.py:demo", "-p", "text=life", "--run-id", "life", "--quiet")
    assert _post(server, "/runs/life/archive").json()["lifecycle"] == "archived"
    assert _post(server, "/runs/life/restore").json()["lifecycle"] == "active"
    preview = server.api("/runs/life/delete-preview")
    assert preview["artifact_count"] == 4 and preview["total_bytes"] > 0
    assert {a["run_id"] for a in preview["artifacts"]} == {"life"}
    deleted = _post(server, "/runs/life/delete")
    assert deleted.status_code == 200 and deleted.json()["lifecycle"] == "deleted"
    conflict = _post(server, "/runs/life/archive")
    assert conflict.status_code == 409 and "restore" in conflict.json()["fix"].lower()
    missing = _post(server, "/runs/no-such-run/archive")
    assert missing.status_code == 404 and set(missing.json()) == {"error", "fix"}
    bare = httpx.post(f"{server.url}/api/v1/runs/life/restore")
    assert bare.status_code == 403  # no CSRF header: refused by the guard
    assert _post(server, "/runs/life/restore").json()["lifecycle"] == "active"
    assert server.client.get("/api/v1/runs/life/archive").status_code in (404, 405)


def test_clone_checks_parameters_then_starts_a_new_run(server: UIServer):
    server.conveyor("run", "basic.py:demo", "-p", "text=abc", "--run-id", "orig", "--quiet")
    bad = _post(server, "/runs/orig/clone", {"parameters": {"C": "lots"}})
    assert bad.status_code == 400 and "'C'" in bad.json()["error"] and bad.json()["fix"]
    unknown = _post(server, "/runs/orig/clone", {"parameters": {"nope": 1}})
    assert unknown.status_code == 400 and "nope" in unknown.json()["error"]
    shape = _post(server, "/runs/orig/clone", {"parameters": [1]})
    assert shape.status_code == 400
    started = _post(server, "/runs/orig/clone", {"parameters": {"C": 4.5}, "experiment": "e2"})
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["url"] == f"/runs/{body['run_id']}?starting=1" and body["run_id"] != "orig"
    props = _wait_state(server, body["run_id"], ("COMPLETE", "FAILED"))
    assert props["state"] == "COMPLETE"
    assert props["parameters"] == {"text": "abc", "C": 4.5}
    assert props["experiment"] == "e2"
    launches = server.project / ".conveyor" / "launches" / f"{body['run_id']}.log"
    assert launches.exists()
    taken = _post(server, "/runs/orig/clone", {"run_id": body["run_id"]})
    assert taken.status_code == 409


def test_a_run_without_source_cannot_be_retried_or_cloned(server: UIServer):
    code = (
        "import sys; sys.path.insert(0, '.'); import basic, conveyor; "
        "conveyor.run(basic.demo, {'text': 'py'}, run_id='from-python', in_process=True)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=server.project, env=server.env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    refused = _post(server, "/runs/from-python/clone")
    assert refused.status_code == 409 and "conveyor run" in refused.json()["fix"]
    not_failed = _post(server, "/runs/from-python/retry")
    assert not_failed.status_code == 409 and "COMPLETE" in not_failed.json()["error"]


def test_retry_in_place_from_the_api(server: UIServer, tmp_path: Path):
    tally, gate = tmp_path / "tally", tmp_path / "gate"
    failed = server.conveyor(
        "run", "actions_pipelines.py:mend", "-p", f"tally={tally}", "-p", f"gate={gate}",
        "--run-id", "mend-1", "--quiet", check=False,
    )  # fmt: skip
    assert failed.returncode == 1
    gate.touch()
    started = _post(server, "/runs/mend-1/retry")
    assert started.status_code == 202, started.text
    assert started.json()["run_id"] == "mend-1"
    props = _wait_state(server, "mend-1", ("COMPLETE",))
    assert props["retries"] == 1
    assert tally.read_text().splitlines() == ["produce", "conclude"]


def test_terminate_from_the_api(server: UIServer, tmp_path: Path):
    marker, status = tmp_path / "dozing", tmp_path / "status.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "conveyor", "run", "actions_pipelines.py:sleeper", "-p",
         f"marker={marker}", "-p", f"path={status}", "--run-id", "sleepy", "--quiet"],
        cwd=server.project, env=server.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists()
        for action in ("archive", "delete"):
            busy = _post(server, f"/runs/sleepy/{action}")
            assert busy.status_code == 409 and "terminate" in busy.json()["fix"].lower()
        done = _post(server, "/runs/sleepy/terminate")
        assert done.status_code == 200 and done.json()["state"] == "CANCELED"
        assert proc.wait(30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert '"CANCELED"' in status.read_text()  # the exit handler ran
    again = _post(server, "/runs/sleepy/terminate")
    assert again.status_code == 409


def test_gc_plan_and_collect(server: UIServer):
    server.conveyor("run", "basic.py:demo", "-p", "text=trash", "--run-id", "trash", "--quiet")
    server.conveyor("runs", "delete", "trash", "--yes")
    plan = server.api("/gc")
    mine = [a for a in plan["artifacts"] if a["run_id"] == "trash"]
    assert len(mine) == 4 and plan["total_bytes"] >= sum(a["bytes"] for a in mine)
    assert all(Path(a["uri"]).exists() for a in mine)
    done = _post(server, "/gc")
    assert done.status_code == 200 and done.json()["collected"] is True
    assert not any(Path(a["uri"]).exists() for a in mine)
    assert not [a for a in server.api("/gc")["artifacts"] if a["run_id"] == "trash"]


def test_a_source_that_no_longer_loads_or_is_gone_is_an_error(server: UIServer, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    copy_pipelines(elsewhere)

    def run(*args: str) -> int:
        done = subprocess.run(
            [sys.executable, "-m", "conveyor", "run", *args, "-q"], cwd=elsewhere,
            env=server.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        return done.returncode

    gate = tmp_path / "gate"
    assert run("actions_pipelines.py:mend", "-p", f"gate={gate}", "--run-id", "far-1") == 1
    assert run("basic.py:demo", "--run-id", "far-2") == 0
    pipeline = elsewhere / "actions_pipelines.py"
    pipeline.write_text(pipeline.read_text().replace('text: str = "abc"', 'text: str = "xyz"'))
    gate.touch()
    changed = _post(server, "/runs/far-1/retry")  # the child refuses: the IR changed
    assert changed.status_code == 400 and "changed since run 'far-1' ran" in changed.json()["error"]
    assert _run(server, "far-1")["state"] == "FAILED"  # type: ignore[index]
    (elsewhere / "basic.py").write_text("this is not Python (\n")
    broken = _post(server, "/runs/far-2/clone")
    assert broken.status_code == 400 and "failed (exit code 2)" in broken.json()["error"]
    shutil.rmtree(elsewhere)
    gone = _post(server, "/runs/far-1/retry")
    assert gone.status_code == 400 and "no longer a folder" in gone.json()["error"]
