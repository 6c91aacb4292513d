"""Retry in place, clone and terminate through ``conveyor runs ...`` (real subprocesses on a
real SQLite store)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conveyor.metadata import CONTEXT_RUN, ExecutionState, connect

PIPELINES = Path(__file__).parent / "pipelines"


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / ".conveyor"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
        self.env["CONVEYOR_HOME"] = str(self.home)

    def conveyor(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "conveyor", *args], cwd=cwd or self.root, env=self.env,
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip

    def run_ctx(self, run_id: str) -> Any:
        store = connect(f"sqlite:///{self.home}/metadata.db")
        try:
            return store.find_context(CONTEXT_RUN, run_id)
        finally:
            store.close()

    def executions(self, run_id: str) -> list[Any]:
        store = connect(f"sqlite:///{self.home}/metadata.db")
        try:
            ctx = store.find_context(CONTEXT_RUN, run_id)
            return sorted(store.list_executions(context_id=ctx.id), key=lambda e: e.id)
        finally:
            store.close()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "project"
    shutil.copytree(PIPELINES, root, ignore=shutil.ignore_patterns("__pycache__"))
    return Project(root)


def test_retry_in_place_runs_only_what_did_not_succeed(project: Project, tmp_path: Path):
    tally, gate = tmp_path / "tally", tmp_path / "gate"
    params = ["-p", f"tally={tally}", "-p", f"gate={gate}"]
    first = project.conveyor("run", "actions_pipelines.py:mend", *params, "--run-id", "m1")
    assert first.returncode == 1, first.stderr
    before = {e.name: e for e in project.executions("m1")}
    assert before["fragile"].state == ExecutionState.FAILED
    assert before["conclude"].state == ExecutionState.CANCELED
    assert before["rarely"].state == ExecutionState.SKIPPED

    refused = project.conveyor("runs", "retry", "m1", "--json")  # still failing: FAILED again
    assert refused.returncode == 1
    gate.touch()
    # from another folder: the run's recorded source says where to start
    done = project.conveyor("runs", "retry", "m1", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "COMPLETE"
    ctx = project.run_ctx("m1")
    assert ctx.properties["state"] == "COMPLETE" and ctx.properties["retries"] == 2
    assert ctx.properties["retried_at"] > 0 and ctx.properties["failed_tasks"] == []
    after = project.executions("m1")
    names = [e.name for e in after]
    assert names.count("produce") == 1 and names.count("rarely") == 1  # not re-recorded
    assert [e.state for e in after if e.name == "fragile"] == [
        ExecutionState.FAILED, ExecutionState.FAILED, ExecutionState.COMPLETE,
    ]  # fmt: skip
    assert tally.read_text().splitlines() == ["produce", "conclude"]  # produce ran once

    again = project.conveyor("runs", "retry", "m1")
    assert again.returncode == 1 and "only a FAILED or CANCELED run" in again.stderr


def test_retry_refuses_changed_code_and_clone_checks_parameters(project: Project, tmp_path: Path):
    params = ["-p", f"tally={tmp_path / 't'}", "-p", f"gate={tmp_path / 'g'}"]
    assert project.conveyor("run", "actions_pipelines.py:mend", *params, "--run-id", "m2")
    source = project.root / "actions_pipelines.py"
    source.write_text(source.read_text().replace('text: str = "abc"', 'text: str = "abcd"'))
    changed = project.conveyor("runs", "retry", "m2")
    assert changed.returncode == 1
    assert "changed since run 'm2' ran" in changed.stderr and "clone" in changed.stderr

    bad = project.conveyor("runs", "clone", "m2", "-p", "copies=many")
    assert bad.returncode == 1 and "Parameter 'copies'" in bad.stderr
    unknown = project.conveyor("runs", "clone", "m2", "-p", "nope=1")
    assert unknown.returncode == 1 and "nope" in unknown.stderr
    (tmp_path / "g").touch()
    cloned = project.conveyor(
        "runs", "clone", "m2", "-p", "text=hello", "--run-id", "m2-clone", "--experiment", "e1"
    )
    assert cloned.returncode == 0, cloned.stderr
    ctx = project.run_ctx("m2-clone")
    assert ctx.properties["state"] == "COMPLETE"
    assert ctx.properties["parameters"]["text"] == "hello"
    assert ctx.properties["parameters"]["gate"] == str(tmp_path / "g")  # the rest: the run's
    assert ctx.properties["experiment"] == "e1"
    missing = project.conveyor("runs", "clone", "no-such-run")
    assert missing.returncode == 2 and "No run 'no-such-run'" in missing.stderr


def test_terminate_cancels_the_run_and_its_exit_handler_runs(project: Project, tmp_path: Path):
    marker, status = tmp_path / "dozing", tmp_path / "status.json"
    args = ["-p", f"marker={marker}", "-p", f"path={status}", "--run-id", "s1", "--quiet"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "conveyor", "run", "actions_pipelines.py:sleeper", *args],
        cwd=project.root, env=project.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "the sleeping step never started"
        done = project.conveyor("runs", "terminate", "s1", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["state"] == "CANCELED"
        assert proc.wait(30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert json.loads(status.read_text())["state"] == "CANCELED"  # the exit handler ran
    states = {e.name: e.state for e in project.executions("s1")}
    assert states["doze"] == ExecutionState.CANCELED
    assert states["report"] == ExecutionState.COMPLETE
    again = project.conveyor("runs", "terminate", "s1")
    assert again.returncode == 1 and "not RUNNING" in again.stderr


def test_retry_in_place_inside_a_parallel_for(project: Project, tmp_path: Path):
    tally, gate = tmp_path / "tally", tmp_path / "gate"
    params = ["-p", f"tally={tally}", "-p", f"gate={gate}"]
    first = project.conveyor("run", "actions_pipelines.py:spread", *params, "--run-id", "sp")
    assert first.returncode == 1, first.stderr
    states = {e.name: e.state for e in project.executions("sp")}
    assert states["piece[1]"] == ExecutionState.FAILED
    assert states["piece[0]"] == states["piece[2]"] == ExecutionState.COMPLETE
    gate.touch()
    done = project.conveyor("runs", "retry", "sp", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["state"] == "COMPLETE"
    assert result["tasks"]["total"]["outputs"]["parameters"] == {"Output": 30}
    names = [e.name for e in project.executions("sp")]
    assert names.count("piece[0]") == names.count("piece[2]") == names.count("pieces") == 1
    assert names.count("piece[1]") == 2
    assert sorted(tally.read_text().splitlines()) == ["piece 0", "piece 1", "piece 1", "piece 2"]


def test_delete_asks_with_what_it_frees_and_gc_collects(project: Project):
    assert (
        project.conveyor("run", "basic.py:demo", "-p", "text=gone", "--run-id", "d1").returncode
        == 0
    )
    store = connect(f"sqlite:///{project.home}/metadata.db")
    try:
        uris = [a.uri for a in store.list_artifacts(context_id=project.run_ctx("d1").id)]
    finally:
        store.close()
    assert len(uris) == 4
    answered_no = subprocess.run(
        [sys.executable, "-m", "conveyor", "runs", "delete", "d1"], cwd=project.root,
        env=project.env, input="n\n", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert answered_no.returncode == 1 and "Nothing deleted" in answered_no.stdout
    assert "lets conveyor gc free: 4 artifact(s)" in answered_no.stdout
    assert not project.run_ctx("d1").properties.get("lifecycle")
    needs_yes = project.conveyor("runs", "delete", "d1", "--json")
    assert needs_yes.returncode == 2 and "--yes" in needs_yes.stderr
    deleted = project.conveyor("runs", "delete", "d1", "--yes", "--json")
    assert deleted.returncode == 0, deleted.stderr
    result = json.loads(deleted.stdout)
    assert result["lifecycle"] == "deleted" and result["frees"]["artifact_count"] == 4
    dry = project.conveyor("gc", "--dry-run", "--json")
    plan = json.loads(dry.stdout)
    assert sorted(a["uri"] for a in plan["artifacts"]) == sorted(uris) and not plan["collected"]
    assert all(Path(u).exists() for u in uris)
    text = project.conveyor("gc", "--dry-run")
    assert "Would free: 4 artifact(s)" in text.stdout
    done = json.loads(project.conveyor("gc", "--json").stdout)
    assert done["collected"] and done["total_bytes"] == plan["total_bytes"]
    assert not any(Path(u).exists() for u in uris)
    assert "Freed: 0 artifact(s)" in project.conveyor("gc").stdout
    restored = project.conveyor("runs", "restore", "d1")
    assert restored.returncode == 0 and "Restored run d1" in restored.stdout
