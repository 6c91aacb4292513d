"""The warm agent: later runs skip start-up, behave exactly like direct runs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_output import as_json

pytestmark = pytest.mark.slow


@pytest.fixture
def agent_env(tmp_path: Path):
    """A private agent folder for this test, so it starts (and ends) its own agent."""
    folder = tmp_path / "agents"
    folder.mkdir(mode=0o700)
    yield {"CONVEYOR_AGENT_DIR": str(folder)}
    for pid_file in folder.glob("*.pid"):
        with contextlib.suppress(ValueError, KeyError, ProcessLookupError):
            os.kill(json.loads(pid_file.read_text())["pid"], signal.SIGTERM)


def _wait_for_agent(cli, env: dict[str, str], timeout: float = 30) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        agents = as_json(cli("agent", "status", "--json", env=env))
        live = [a for a in agents if a["alive"] and a["current"] and Path(a["socket"]).exists()]
        if live:
            return live[0]
        time.sleep(0.1)
    raise AssertionError("the agent did not start")


def _launcher(cli, run_id: str, env: dict[str, str]) -> str:
    shown = as_json(cli("runs", "show", run_id, "--json", env=env))
    return shown["properties"]["launcher"]


def test_first_run_starts_the_agent_and_later_runs_use_it(cli, agent_env):
    first = as_json(cli("run", "basic.py:demo", "--json", env=agent_env))
    assert first["state"] == "COMPLETE"
    assert _launcher(cli, first["run_id"], agent_env) == "cli"
    _wait_for_agent(cli, agent_env)
    second = cli("run", "basic.py:demo", "--json", "--param", "C=2", env=agent_env)
    assert second.returncode == 0, second.stderr
    data = as_json(second)
    assert _launcher(cli, data["run_id"], agent_env) == "agent"
    assert data["tasks"]["train"]["outputs"]["parameters"] == {"Output": 22.0}
    assert data["tasks"]["ingest"]["state"] == "CACHED"


def test_agent_runs_keep_exit_codes_output_and_working_directory(cli, agent_env, project):
    cli("run", "basic.py:demo", env=agent_env)
    _wait_for_agent(cli, agent_env)
    failed = cli("run", "basic.py:bad_raises", env=agent_env)
    assert failed.returncode == 1
    assert "boom in user code" in failed.stdout
    usage = cli("run", "basic.py:nope", env=agent_env)
    assert usage.returncode == 2
    assert "No pipeline 'nope'" in usage.stderr
    ok = cli("run", "basic.py:demo", "--param", "text=agent", env=agent_env)
    assert ok.returncode == 0 and "ingested 5 chars" in ok.stdout
    # the run used this project's home, as a direct run would
    assert (project / ".conveyor" / "metadata.db").exists()


def test_environment_of_each_command_reaches_the_run(cli, agent_env, monkeypatch):
    cli("run", "basic.py:options", env=agent_env)
    _wait_for_agent(cli, agent_env)
    one = as_json(cli("run", "basic.py:options", "--json", env={**agent_env, "CV_TEST_SEED": "a"}))
    two = as_json(cli("run", "basic.py:options", "--json", env={**agent_env, "CV_TEST_SEED": "b"}))
    assert one["tasks"]["seeded"]["state"] == "COMPLETE"
    assert two["tasks"]["seeded"]["state"] == "COMPLETE"  # the variable is part of the key
    three = as_json(
        cli("run", "basic.py:options", "--json", env={**agent_env, "CV_TEST_SEED": "b"})
    )
    assert three["tasks"]["seeded"]["state"] == "CACHED"


def _popen(project: Path, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    full.update({"CONVEYOR_HOME": str(project / ".conveyor"), **env})
    return subprocess.Popen(
        [sys.executable, "-m", "conveyor", *args],
        cwd=project,
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.05)


def test_ctrl_c_and_kill_9_of_the_client_stop_the_agent_run(cli, agent_env, project, tmp_path):
    cli("run", "basic.py:demo", env=agent_env)
    _wait_for_agent(cli, agent_env)
    markers = tmp_path / "markers"
    args = ["run", "basic.py:slow_chain", "--param", f"marker_dir={markers}"]

    proc = _popen(project, args, agent_env)
    _wait_for(markers / "c.started")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err

    (markers / "c.started").unlink()
    proc = _popen(project, args, agent_env)
    _wait_for(markers / "c.started")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)  # returns once the run's processes are gone too

    runs = as_json(cli("runs", "list", "--json", env=agent_env))
    states = [r["state"] for r in runs if r["pipeline"] == "slow-chain"]
    assert states == ["FAILED", "CANCELED"]  # newest first; the killed run was reconciled
    newest = as_json(cli("runs", "show", runs[0]["run_id"], "--json", env=agent_env))
    assert "orchestrator process died" in newest["properties"]["error"]


def test_agent_can_be_turned_off_and_stopped(cli, agent_env):
    off = {**agent_env, "CONVEYOR_AGENT": "off"}
    assert cli("run", "basic.py:demo", env=off).returncode == 0
    assert not any(Path(agent_env["CONVEYOR_AGENT_DIR"]).glob("*.sock"))
    cli("run", "basic.py:demo", env=agent_env)
    agent = _wait_for_agent(cli, agent_env)
    assert "Stopped 1 agent" in cli("agent", "stop", env=agent_env).stdout
    end = time.monotonic() + 10
    while time.monotonic() < end and Path(agent["socket"]).exists():
        time.sleep(0.05)
    assert not Path(agent["socket"]).exists()
    status = json.loads(cli("agent", "status", "--json", env=agent_env).stdout)
    assert not [a for a in status if a["alive"]]
