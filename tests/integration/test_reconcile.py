"""Runs whose orchestrator died: marked failed only when their owner is surely gone, with
their half-written outputs removed and their step counts taken from the store."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from conveyor.execution.runs import open_run
from conveyor.ir.spec import PipelineSpec
from conveyor.metadata import MetadataStore, connect
from conveyor.orchestrator import reconcile_stale_runs
from conveyor.orchestrator.owner import owner_identity

pytestmark = [pytest.mark.slow, pytest.mark.integration]

PIPELINES = Path(__file__).parent / "pipelines"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env["CONVEYOR_HOME"] = str(home)
    env["CONVEYOR_AGENT"] = "off"  # the run must live in the process (and namespace) started here
    return env


def _conveyor(home: Path, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "conveyor", *args],
        cwd=PIPELINES,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _start(home: Path, argv: list[str], output: int = subprocess.PIPE) -> subprocess.Popen[str]:
    """``argv`` started in the test pipelines' folder with ``home``, its output to ``output``."""
    return subprocess.Popen(
        argv, cwd=PIPELINES, env=_env(home), stdout=output, stderr=output, text=True
    )


def _wait_for(path: Path, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.02)


def _partials(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".partial-" in p.name]


@pytest.mark.parametrize("mode", [[], ["--in-process"]], ids=["workers", "in-process"])
def test_kill_9_mid_step_then_runs_list_cleans_partial_outputs_and_agrees_with_show(
    home: Path, tmp_path: Path, mode: list[str]
):
    gate_dir = tmp_path / "gate"
    gate_dir.mkdir()
    (gate_dir / "go").touch()
    args = ["run", "processes.py:half_written", *mode, "--param", f"gate_dir={gate_dir}"]
    proc = _start(home, [sys.executable, "-m", "conveyor", *args], subprocess.DEVNULL)
    _wait_for(gate_dir / "half-started")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(0.2)  # the worker dies with its parent (PR_SET_PDEATHSIG)
    assert _partials(home / "artifacts")  # the killed step left its half-written output

    (listed,) = _conveyor(home, "runs", "list", "--json")
    assert listed["state"] == "FAILED"
    shown = _conveyor(home, "runs", "show", listed["run_id"], "--json")
    assert listed["task_states"] == dict(Counter(s["state"] for s in shown["steps"]))
    assert listed["task_states"] == {"COMPLETE": 1, "FAILED": 1}
    assert shown["properties"]["failed_tasks"] == ["half_writes"]
    assert not _partials(home / "artifacts")


def _running_run(store: MetadataStore, **owner: Any) -> int:
    spec = PipelineSpec(name="owned", components={}, tasks={})
    props = {"state": "RUNNING", "started_at": time.time(), **owner_identity(), **owner}
    run = open_run(store, spec, properties=props)
    return run.run_context_id


def _state(store: MetadataStore, context_id: int) -> str:
    return str(store.get_context(context_id).properties["state"])


def test_a_live_owner_keeps_its_run_running(metadata_url: str):
    store = connect(metadata_url)
    mine = _running_run(store)
    reconcile_stale_runs(store)
    assert _state(store, mine) == "RUNNING"
    store.close()


def test_a_reused_pid_or_another_boot_marks_the_run_failed(metadata_url: str):
    store = connect(metadata_url)
    identity = owner_identity()
    if "pid_start" not in identity or "boot_id" not in identity:
        pytest.skip("needs /proc")
    # the pid exists (it is this process), but the recorded owner started at another time
    reused = _running_run(store, pid_start=identity["pid_start"] - 1)
    rebooted = _running_run(store, boot_id="00000000-0000-0000-0000-000000000000")
    reconcile_stale_runs(store)
    assert _state(store, reused) == "FAILED"
    assert _state(store, rebooted) == "FAILED"
    store.close()


def _free_pid() -> int:
    """A pid no process outside the test's namespace has now (from the top of the range)."""
    with open("/proc/sys/kernel/pid_max") as fh:
        top = int(fh.read())
    for pid in range(top - 1000, top):
        if not os.path.exists(f"/proc/{pid}"):
            return pid
    raise AssertionError("no free pid")


DRIVER = """
import subprocess, sys
with open("/proc/sys/kernel/ns_last_pid", "w") as fh:
    fh.write(str(int(sys.argv[1]) - 1))
sys.exit(subprocess.call(sys.argv[2:]))
"""


def _can_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = ["unshare", "--pid", "--fork", "--mount-proc", "true"]
    return subprocess.run(probe, capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs root and unshare --pid")
def test_a_run_in_another_pid_namespace_is_not_marked_failed_from_outside(
    home: Path, tmp_path: Path
):
    gate_dir = tmp_path / "gate"
    gate_dir.mkdir()
    pid = _free_pid()  # the orchestrator's pid inside its namespace: no process has it out here
    run = [sys.executable, "-m", "conveyor", "run", "processes.py:gated"]
    run += ["--json", "--param", f"gate_dir={gate_dir}"]
    inside = ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", DRIVER]
    proc = _start(home, [*inside, str(pid), *run])
    try:
        _wait_for(gate_dir / "started")
        (listed,) = _conveyor(home, "runs", "list", "--json")  # from outside the namespace
        assert listed["state"] == "RUNNING"
        shown = _conveyor(home, "runs", "show", listed["run_id"], "--json")
        assert shown["properties"]["pid"] == pid  # the case under test: its pid is free here
    finally:
        (gate_dir / "go").touch()
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out)["state"] == "COMPLETE"


def test_runs_list_counts_the_steps_of_a_run_in_progress_as_runs_show_lists_them(
    home: Path, tmp_path: Path
):
    gate_dir = tmp_path / "gate"
    gate_dir.mkdir()
    args = ["run", "processes.py:gated", "--json", "--param", f"gate_dir={gate_dir}"]
    proc = _start(home, [sys.executable, "-m", "conveyor", *args])
    try:
        _wait_for(gate_dir / "started")
        (listed,) = _conveyor(home, "runs", "list", "--json")
        shown = _conveyor(home, "runs", "show", listed["run_id"], "--json")
    finally:
        (gate_dir / "go").touch()
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert listed["state"] == "RUNNING"
    assert listed["task_states"] == dict(Counter(s["state"] for s in shown["steps"]))
    assert listed["task_states"] == {"RUNNING": 1}
