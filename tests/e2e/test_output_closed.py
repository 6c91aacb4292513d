"""Output is never a reason for a run to fail: a reader that leaves early (``| head -1``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conveyor.metadata import CONTEXT_RUN, ExecutionState, connect

pytestmark = pytest.mark.slow


def _wait_for(path: Path, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.parametrize(
    "mode", [[], ["--in-process"], ["--json"]], ids=["workers", "in-process", "json"]
)
def test_run_completes_and_records_every_step_when_stdout_closes_early(
    project: Path, tmp_path: Path, mode: list[str]
):
    gate_dir = tmp_path / "gate"
    gate_dir.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CONVEYOR_") or k.startswith("CONVEYOR_AGENT")
    }
    env["CONVEYOR_HOME"] = str(project / ".conveyor")
    args = ["run", "processes.py:gated", *mode, "--param", f"gate_dir={gate_dir}"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "conveyor", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    _wait_for(gate_dir / "started")
    if mode != ["--json"]:
        assert proc.stdout.readline().startswith("Run gated-")
    proc.stdout.close()  # the reader leaves, as `head -1` does; the steps print on
    (gate_dir / "go").touch()
    code = proc.wait(timeout=120)
    err = proc.stderr.read()
    proc.stderr.close()

    assert code == 0, err
    assert "BrokenPipeError" not in err and "Traceback" not in err
    store = connect(f"sqlite:///{project / '.conveyor' / 'metadata.db'}")
    (run,) = store.list_contexts(CONTEXT_RUN)
    assert run.properties["state"] == "COMPLETE"
    states = {e.name: e.state for e in store.list_executions(context_id=run.id)}
    assert states == {"gate": ExecutionState.COMPLETE, "after_gate": ExecutionState.COMPLETE}
    assert run.properties["task_states"] == {"COMPLETE": 2}
    store.close()


def test_run_piped_into_head_completes_with_every_step_recorded(project: Path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CONVEYOR_") or k.startswith("CONVEYOR_AGENT")
    }
    env["CONVEYOR_HOME"] = str(project / ".conveyor")
    command = f"set -o pipefail; {sys.executable} -m conveyor run basic.py:demo | head -1"
    done = subprocess.run(
        ["bash", "-c", command], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Run demo-")
    assert "Traceback" not in done.stderr
    store = connect(f"sqlite:///{project / '.conveyor' / 'metadata.db'}")
    (run,) = store.list_contexts(CONTEXT_RUN)
    assert run.properties["state"] == "COMPLETE"
    states = {e.name: e.state for e in store.list_executions(context_id=run.id)}
    assert states == {t: ExecutionState.COMPLETE for t in ("ingest", "prepare", "train")}
    store.close()
