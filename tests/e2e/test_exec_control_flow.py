"""A remote engine drives a loop with `conveyor exec --next` / `--task`, one process per
step and no state of its own, and gets what the local runner gets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

Cli = Callable[..., CompletedProcess[str]]


def _drive(cli: Cli, common: list[str], cwd: Path) -> tuple[list[str], dict[str, object]]:
    started: list[str] = []
    for _ in range(30):
        proc = cli("exec", "--next", *common, cwd=cwd)
        assert proc.returncode == 0, proc.stderr
        ready = json.loads(proc.stdout)
        if ready["state"] != "RUNNING":
            return started, ready
        assert ready["ready"], ready  # something must be ready while the run goes on
        for name in ready["ready"]:
            step = cli("exec", "--task", name, *common, cwd=cwd)
            assert step.returncode == 0, step.stderr
            started.append(name)
    raise AssertionError(f"the run never ended; started {started}")


def test_exec_next_drives_a_loop_like_the_local_runner(cli: Cli, project: Path, tmp_path: Path):
    assert cli("compile", "flow_pipelines.py:boosting", "-o", "boosting.json").returncode == 0
    home = project / ".conveyor"
    params = {"rounds": 10, "target": 0.93}
    common = [
        *("--ir", str(project / "boosting.json"), "--run-id", "remote-loop"),
        *("--metadata-url", f"sqlite:///{home}/metadata.db"),
        *("--artifact-root", str(home / "artifacts"), "--params-json", json.dumps(params)),
    ]

    started, last = _drive(cli, common, tmp_path)

    assert last == {"ready": [], "running": [], "state": "COMPLETE"}
    # 1 - 1/11 < 0.93 <= 1 - 1/21: two iterations, each after the previous one settled
    assert started == ["grow[0]", "judge[0]", "grow[1]", "judge[1]", "milestone[1]", "finalize"]
    shown = json.loads(cli("runs", "show", "remote-loop", "--json").stdout)
    steps = {s["task"]: s for s in shown["steps"]}
    assert steps["milestone[0]"]["state"] == "SKIPPED"  # recorded by the replay
    assert steps["finalize"]["properties"]["outputs"]["Output"] == "20 rounds, 2 iterations"
    assert shown["properties"]["state"] == "COMPLETE"

    local = json.loads(
        cli(
            "run", "flow_pipelines.py:boosting", "--json", "-p", "rounds=10", "-p", "target=0.93"
        ).stdout
    )
    assert {t for t, r in local["tasks"].items()} == set(steps)
    assert all(r["cached"] for r in local["tasks"].values() if r["state"] != "SKIPPED")


def test_exec_refuses_an_instance_that_is_not_ready(cli: Cli, project: Path, tmp_path: Path):
    assert cli("compile", "flow_pipelines.py:boosting", "-o", "boosting.json").returncode == 0
    home = project / ".conveyor"
    common = [
        *("--ir", str(project / "boosting.json"), "--run-id", "early"),
        *("--metadata-url", f"sqlite:///{home}/metadata.db"),
        *("--artifact-root", str(home / "artifacts")),
    ]

    proc = cli("exec", "--task", "grow[1]", *common, cwd=tmp_path)

    assert proc.returncode == 2
    assert "'grow[1]' is not ready to run in run 'early'" in proc.stderr
    assert "Ready now: ['grow[0]']" in proc.stderr
