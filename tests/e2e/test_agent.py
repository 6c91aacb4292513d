"""The warm agent: later runs skip start-up, behave exactly like direct runs."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from cli_output import as_json

pytestmark = pytest.mark.slow


@pytest.fixture
def agent_env(tmp_path: Path):
    """A private agent folder for this test, so it starts (and ends) its own agent."""
    folder = tmp_path / "agents"
    folder.mkdir(mode=0o700)
    yield {"CONVEYOR_AGENT": "on", "CONVEYOR_AGENT_DIR": str(folder)}
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


def test_agent_is_off_unless_asked_for_and_can_be_stopped(cli, agent_env):
    unset = {k: v for k, v in agent_env.items() if k != "CONVEYOR_AGENT"}
    for env in (unset, {**agent_env, "CONVEYOR_AGENT": "off"}):
        assert cli("run", "basic.py:demo", env=env).returncode == 0
        assert not any(Path(agent_env["CONVEYOR_AGENT_DIR"]).glob("*.sock"))
    odd = cli("run", "basic.py:demo", env={**agent_env, "CONVEYOR_AGENT": "maybe"})
    assert odd.returncode == 0
    assert "CONVEYOR_AGENT='maybe' is neither on" in odd.stderr
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


# --- parity: the same probe, run directly and through the agent, sees the same process -------

GIB = 1024**3
_CONVEYOR = [sys.executable, "-m", "conveyor"]


def _nofile_512() -> None:
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))


def _address_space_64g() -> None:
    import resource

    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (64 * GIB, hard))


def _nohup() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


# setting -> (environment, what the shell does before exec: umask, ulimit, nice, taskset...)
PARITY_SETTINGS: dict[str, tuple[dict[str, str], Any]] = {
    "defaults": ({}, None),
    "umask 077": ({}, lambda: os.umask(0o077)),
    "ulimit -n 512": ({}, _nofile_512),
    "ulimit -v": ({}, _address_space_64g),
    "nice -n 5": ({}, lambda: os.nice(5)),
    "taskset -c 0": ({}, lambda: os.sched_setaffinity(0, {0})),
    "nohup": ({}, _nohup),
    "TZ": ({"TZ": "Asia/Tokyo"}, None),
    "PYTHONHASHSEED": ({"PYTHONHASHSEED": "123"}, None),
    "PYTHONWARNINGS": ({"PYTHONWARNINGS": "ignore::UserWarning"}, None),
    "OPENBLAS_NUM_THREADS=1": ({"OPENBLAS_NUM_THREADS": "1"}, None),
    "yaml.py next to the pipeline": ({}, None),
}


def _modes(home: Path) -> dict[str, list[str]]:
    """Permission bits of everything a run wrote in its home (metadata.db, logs, artifacts)."""
    files, dirs = set(), set()
    for path in home.rglob("*"):
        (dirs if path.is_dir() else files).add(oct(path.stat().st_mode & 0o777))
    db = oct((home / "metadata.db").stat().st_mode & 0o777)
    return {"files": sorted(files), "dirs": sorted(dirs), "metadata.db": [db]}


class _Prober:
    """Runs the probe pipeline as a shell would, each time in a fresh home."""

    def __init__(self, project: Path, scratch: Path, agent_dir: str):
        self.project, self.scratch, self.agent_dir = project, scratch, agent_dir
        self.count = 0

    def env(self, extra: dict[str, str], agent: bool) -> dict[str, str]:
        full = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
        full.update(extra)
        full["CONVEYOR_AGENT_DIR"] = self.agent_dir
        full["CONVEYOR_AGENT"] = "on" if agent else "off"
        return full

    def run(self, pipeline_file: str, extra: dict[str, str], pre: Any, agent: bool) -> dict:
        self.count += 1
        home = self.scratch / f"home-{self.count}"
        out = self.scratch / f"probe-{self.count}.json"
        env = {**self.env(extra, agent), "CONVEYOR_HOME": str(home)}
        done = subprocess.run(
            [*_CONVEYOR, "run", f"{pipeline_file}:probe", "-q", "--param", f"out_file={out}"],
            cwd=self.project,
            env=env,
            preexec_fn=pre,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        seen = json.loads(out.read_text())
        seen["home"] = _modes(home)
        return seen

    def through_agent(self, pipeline_file: str, extra: dict[str, str], pre: Any) -> dict:
        """Through the agent of this environment (starting it first if there is none)."""
        seen = self.run(pipeline_file, extra, pre, agent=True)
        if not seen["served_by_agent"]:
            self.wait_for_agent(extra, pre)
            seen = self.run(pipeline_file, extra, pre, agent=True)
        return seen

    def wait_for_agent(self, extra: dict[str, str], pre: Any = None) -> None:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            status = subprocess.run(
                [sys.executable, "-m", "conveyor", "agent", "status", "--json"],
                env=self.env(extra, agent=True),
                preexec_fn=pre,
                capture_output=True,
                text=True,
                check=True,
            )
            agents = json.loads(status.stdout)
            if [a for a in agents if a["current"] and a["alive"] and Path(a["socket"]).exists()]:
                return
            time.sleep(0.1)
        raise AssertionError("the agent did not start")


@pytest.fixture
def prober(project: Path, tmp_path: Path, agent_env: dict[str, str]) -> _Prober:
    shadowing = project / "shadowing"
    shadowing.mkdir()
    shutil.copy(project / "parity_probe.py", shadowing / "parity_probe.py")
    (shadowing / "yaml.py").write_text('PROBE_ORIGIN = "project"\n')
    scratch = tmp_path / "probes"
    scratch.mkdir()
    return _Prober(project, scratch, agent_env["CONVEYOR_AGENT_DIR"])


def test_agent_runs_see_the_same_process_as_direct_runs_under_every_setting(prober):
    prober.run("parity_probe.py", {}, None, agent=True)  # starts the default agent
    prober.wait_for_agent({})
    differences = {}
    for setting, (extra, pre) in PARITY_SETTINGS.items():
        shadow = setting.startswith("yaml.py")
        pipeline_file = "shadowing/parity_probe.py" if shadow else "parity_probe.py"
        direct = prober.run(pipeline_file, extra, pre, agent=False)
        agent = prober.through_agent(pipeline_file, extra, pre)
        # the agent serves every setting it can reproduce; a shadowed module sends the
        # command back to a direct run
        direct["served_by_agent"] = not shadow
        if direct != agent:
            differences[setting] = {
                k: (direct[k], agent[k]) for k in direct if direct[k] != agent.get(k)
            }
    assert differences == {}


def _state(pid: int) -> str:
    """A process's state letter (``T`` when stopped)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rpartition(")")[2].split()[0]


def _paused_run(prober: _Prober, markers: Path, agent: bool, pre: Any = None):
    """Start the ``paused`` pipeline as a shell job (its own process group in this session)."""
    markers.mkdir()
    prober.count += 1
    env = {**prober.env({}, agent), "CONVEYOR_HOME": str(prober.scratch / f"home-{prober.count}")}
    proc = subprocess.Popen(
        [*_CONVEYOR, "run", "parity_probe.py:paused", "-q", "--param", f"marker_dir={markers}"],
        cwd=prober.project,
        env=env,
        preexec_fn=pre,
        process_group=0,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(markers / "started")
    return proc, json.loads((markers / "started").read_text())


def test_nohup_runs_survive_the_terminal_closing_through_the_agent_as_directly(prober, tmp_path):
    prober.run("parity_probe.py", {}, None, agent=True)  # an agent started from a terminal
    prober.wait_for_agent({})
    codes = {}
    for agent in (False, True):
        markers = tmp_path / f"hup-{agent}"
        proc, step = _paused_run(prober, markers, agent, pre=_nohup)
        os.killpg(proc.pid, signal.SIGHUP)  # the terminal closes: its job gets SIGHUP
        time.sleep(0.2)
        (markers / "go").touch()
        proc.communicate(timeout=120)
        codes[agent] = (proc.returncode, step["parent"] != proc.pid)
    # exit 0 both ways, and the second run was served by the agent (its orchestrator is not
    # the command's own process)
    assert codes == {False: (0, False), True: (0, True)}


def test_ctrl_z_pauses_the_run_and_fg_resumes_it_through_the_agent_as_directly(prober, tmp_path):
    prober.run("parity_probe.py", {}, None, agent=True)
    prober.wait_for_agent({})
    seen = {}
    for agent in (False, True):
        markers = tmp_path / f"tstp-{agent}"
        proc, step = _paused_run(prober, markers, agent)
        os.killpg(proc.pid, signal.SIGTSTP)  # Ctrl-Z: the terminal stops the foreground job
        end = time.monotonic() + 30
        pids = (proc.pid, step["parent"], step["pid"])
        while time.monotonic() < end and any(_state(p) != "T" for p in pids):
            time.sleep(0.05)
        stopped = [_state(p) for p in pids]
        (markers / "go").touch()
        os.killpg(proc.pid, signal.SIGCONT)  # fg
        proc.communicate(timeout=120)
        seen[agent] = (stopped, proc.returncode, step["parent"] != proc.pid)
    # the command, the run's orchestrator and its step all stop, then finish
    assert seen == {False: (["T", "T", "T"], 0, False), True: (["T", "T", "T"], 0, True)}


def test_agents_of_two_pythonpaths_both_keep_serving(prober, project):
    envs = []
    for name in ("lib_a", "lib_b"):
        (project / name).mkdir()
        envs.append({"PYTHONPATH": str(project / name)})
    for env in envs:  # each path gets its own agent, which does not stop the other one
        prober.run("parity_probe.py", env, None, agent=True)
        prober.wait_for_agent(env)
    served = [
        prober.run("parity_probe.py", env, None, agent=True)["served_by_agent"] for env in envs * 2
    ]
    assert served == [True, True, True, True]
