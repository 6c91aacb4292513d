"""The processes a step starts end with the step: when it returns, fails, times out or is
cancelled, with workers and in-process, including grandchildren whose parent already exited."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]

PIPELINES = Path(__file__).parent / "pipelines"
MODES = pytest.mark.parametrize("mode", [[], ["--in-process"]], ids=["workers", "in-process"])


def _start(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env["CONVEYOR_HOME"] = str(home)
    env["CONVEYOR_AGENT"] = "off"
    return subprocess.Popen(
        [sys.executable, "-m", "conveyor", "run", *args],
        cwd=PIPELINES,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _pids(pid_dir: Path, timeout: float = 60) -> list[int]:
    end = time.monotonic() + timeout
    while not (pid_dir / "pids").exists():
        assert time.monotonic() < end, "the step never started its processes"
        time.sleep(0.02)
    return [int(p) for p in (pid_dir / "pids").read_text().split()]


def _running_sleeps(pids: list[int]) -> list[int]:
    """Those of ``pids`` that are still the step's ``sleep 1000`` (not ended, not a zombie)."""
    alive = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE and proc.cmdline() == ["sleep", "1000"]:
                alive.append(pid)
    return alive


@pytest.fixture
def pid_dir(tmp_path: Path):
    path = tmp_path / "pids"
    path.mkdir()
    yield path
    if (path / "pids").exists():  # never leave a sleeper behind, even when the test fails
        for pid in _running_sleeps([int(p) for p in (path / "pids").read_text().split()]):
            os.kill(pid, signal.SIGKILL)


@MODES
@pytest.mark.parametrize("end", ["return", "raise"])
def test_processes_a_step_started_end_when_the_step_ends(
    home: Path, pid_dir: Path, mode: list[str], end: str
):
    proc = _start(
        home, "processes.py:spawner", *mode, "-p", f"pid_dir={pid_dir}", "-p", f"end={end}"
    )
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == (0 if end == "return" else 1), err
    pids = _pids(pid_dir)
    assert len(pids) == 2  # a child and a grandchild whose parent shell had exited
    assert _running_sleeps(pids) == []


@MODES
def test_processes_a_step_started_end_when_the_step_times_out(
    home: Path, pid_dir: Path, mode: list[str]
):
    proc = _start(home, "processes.py:spawner_timeout", *mode, "-p", f"pid_dir={pid_dir}")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "timeout" in out
    assert _running_sleeps(_pids(pid_dir)) == []


@MODES
def test_processes_a_step_started_end_when_the_run_is_cancelled(
    home: Path, pid_dir: Path, mode: list[str]
):
    proc = _start(home, "processes.py:spawner", *mode, "-p", f"pid_dir={pid_dir}", "-p", "end=hang")
    pids = _pids(pid_dir)
    assert len(_running_sleeps(pids)) == 2
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert _running_sleeps(pids) == []


def test_processes_a_step_started_end_when_its_worker_is_killed(home: Path, pid_dir: Path):
    proc = _start(home, "processes.py:spawner_stuck", "-p", f"pid_dir={pid_dir}")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "did not stop; its worker was killed" in out.replace("\n", " ")
    assert _running_sleeps(_pids(pid_dir)) == []


def test_steps_that_use_joblib_process_pools_run_cleanly_one_after_the_other(
    home: Path, pid_dir: Path
):
    # in-process: joblib runs loky pools there (in a forked worker it falls back to n_jobs=1)
    mode = ["--in-process"]
    proc = _start(
        home, "processes.py:joblib_steps", *mode, "--workers", "1", "-p", f"pid_dir={pid_dir}"
    )
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert "died unexpectedly" not in out + err and "Traceback" not in out + err
    pool_workers = [int(p) for f in pid_dir.glob("loky-*") for p in f.read_text().split()]
    assert len(pool_workers) == 4
    assert not [
        p
        for p in pool_workers
        if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
    ]
