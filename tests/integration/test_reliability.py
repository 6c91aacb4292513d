"""Reliability: kill -9 of the orchestrator, concurrent runs on one store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conveyor._internal.hashing import digest_path
from conveyor.metadata import CONTEXT_RUN, ArtifactState, ExecutionState, connect

pytestmark = [pytest.mark.slow, pytest.mark.integration]

PIPELINES = Path(__file__).parent / "pipelines"


def _cli(args: list[str], home: Path, metadata_url: str | None = None) -> subprocess.Popen[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CONVEYOR_") or k.startswith("CONVEYOR_AGENT")
    }
    env["CONVEYOR_HOME"] = str(home)
    if metadata_url:
        env["CONVEYOR_METADATA_URL"] = metadata_url
    return subprocess.Popen(
        [sys.executable, "-m", "conveyor", *args],
        cwd=PIPELINES,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > end:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)


def test_kill_9_mid_run_then_rerun_resumes_from_cache(home: Path, tmp_path: Path):
    markers = tmp_path / "markers"
    args = ["run", "basic.py:slow_chain", "--param", f"marker_dir={markers}", "--json"]
    proc = _cli(args, home)
    _wait_for(markers / "c.started")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)

    store = connect(f"sqlite:///{home}/metadata.db")
    # nothing marked live is incomplete: every LIVE artifact's bytes match its digest
    live = [a for a in store.list_artifacts() if a.state == ArtifactState.LIVE]
    assert len(live) == 2  # a and b finished; c was killed mid-step
    for art in live:
        assert digest_path(art.uri)[0] == art.fingerprint

    # the second run finds the dead orchestrator's run and records it as failed
    (markers / "c.started").unlink()
    rerun = _cli([*args[:-1], "--param", "seconds=0.2", "--json"], home)
    _wait_for(markers / "c.started")
    time.sleep(0.2)
    rerun.send_signal(signal.SIGINT)
    _out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 130, err

    runs = store.list_contexts(CONTEXT_RUN)
    killed = runs[-1]
    assert killed.properties["state"] == "FAILED"
    assert "orchestrator process died" in killed.properties["error"]
    assert not store.list_executions(context_id=killed.id, states=[ExecutionState.RUNNING])
    cancelled = runs[0]
    assert cancelled.properties["state"] == "CANCELED"
    states = {e.name: e.state for e in store.list_executions(context_id=cancelled.id)}
    assert states["slow_step"] == ExecutionState.CACHED
    assert states["slow_step-2"] == ExecutionState.CACHED
    assert states["slow_step-3"] == ExecutionState.CANCELED
    assert states["slow_step-4"] == ExecutionState.CANCELED
    store.close()


def test_ctrl_c_cancels_cleanly_and_rerun_resumes(home: Path, tmp_path: Path):
    markers = tmp_path / "markers"
    args = ["run", "basic.py:slow_chain", "--param", f"marker_dir={markers}"]
    proc = _cli(args, home)
    _wait_for(markers / "c.started")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    store = connect(f"sqlite:///{home}/metadata.db")
    (run,) = store.list_contexts(CONTEXT_RUN)
    assert run.properties["state"] == "CANCELED"
    states = {e.name: e.state for e in store.list_executions(context_id=run.id)}
    assert states == {
        "slow_step": ExecutionState.COMPLETE,
        "slow_step-2": ExecutionState.COMPLETE,
        "slow_step-3": ExecutionState.CANCELED,
        "slow_step-4": ExecutionState.CANCELED,
    }
    assert not [a for a in store.list_artifacts() if "slow_step-3" in a.uri]
    store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_eight_concurrent_runs_on_one_store(home: Path, backend: str, request):
    url = (
        f"sqlite:///{home}/metadata.db"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    procs = [
        _cli(
            ["run", "basic.py:demo", "--param", f"text=run {i}", "--json", "--workers", "1"],
            home,
            metadata_url=url,
        )
        for i in range(8)
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
        assert "database is locked" not in err
    store = connect(url)
    runs = store.list_contexts(CONTEXT_RUN)
    assert len(runs) == 8
    assert {r.properties["state"] for r in runs} == {"COMPLETE"}
    assert len(store.list_executions()) == 24
    store.close()
