"""Control flow on the local runner, end to end on real stores: conditions, parallel-for,
iterative loops, exit handlers and run-time options, in worker processes and in-process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conveyor.metadata import CONTEXT_RUN, MetadataStore, connect
from conveyor.metadata.entities import ExecutionState
from conveyor.orchestrator import RunResult

PIPELINES = Path(__file__).parent / "pipelines"

C = ExecutionState.COMPLETE


@pytest.fixture
def flows(load: Callable[[str], Any]) -> Any:
    return load("flow_pipelines")


def _states(result: RunResult) -> dict[str, str]:
    return {t: r.state.value for t, r in result.tasks.items()}


def _most_at_once(spans: list[dict[str, float]]) -> int:
    """The largest number of spans running at one moment."""
    events = sorted([(s["start"], 1) for s in spans] + [(s["end"], -1) for s in spans])
    now = most = 0
    for _, change in events:
        now += change
        most = max(most, now)
    return most


def _executions(store: MetadataStore, result: RunResult) -> dict[str, Any]:
    ctx = store.find_context(CONTEXT_RUN, result.run_id)
    assert ctx is not None
    return {ex.name: ex for ex in store.list_executions(context_id=ctx.id)}


@pytest.mark.parametrize("score", [0.9, 0.5])
def test_if_else_runs_one_branch_records_the_other_skipped_and_one_of_joins_them(
    flows: Any,
    run_pipeline: Callable[..., RunResult],
    store: MetadataStore,
    mode: dict,
    score: float,
) -> None:
    result = run_pipeline(flows.gate, {"score": score}, **mode)

    assert result.state == "COMPLETE"
    ran, skipped = ("deploy", "alert") if score > 0.8 else ("alert", "deploy")
    assert result.tasks[ran].state == C
    assert result.tasks[skipped].state == ExecutionState.SKIPPED
    recorded = _executions(store, result)[skipped]
    assert recorded.state == ExecutionState.SKIPPED
    reason = recorded.properties["reason"]
    assert "check.passed == true" in reason and reason.endswith("was false")
    expected = "DEPLOYED" if score > 0.8 else f"ALERT {score}"
    assert result.outputs("announce").parameters["Output"] == expected


def test_parallel_for_fans_out_over_a_run_time_list_within_its_limit_and_fans_in(
    flows: Any, run_pipeline: Callable[..., RunResult], store: MetadataStore, tmp_path: Path
) -> None:
    log_dir = tmp_path / "shards"
    log_dir.mkdir()

    result = run_pipeline(flows.fanout, {"n": 4, "log_dir": str(log_dir)}, workers=4)

    assert result.state == "COMPLETE", result.tasks
    assert {f"process[{i}]" for i in range(4)} <= set(result.tasks)
    assert result.outputs("merge").parameters["Output"] == 10 + 20 + 30 + 40
    spans = [json.loads(p.read_text()) for p in sorted(log_dir.glob("shard-*.json"))]
    assert len(spans) == 4
    assert _most_at_once(spans) == 2  # parallelism=2, with 4 idle workers
    item = _executions(store, result)["process[3]"]
    assert item.properties["base_task"] == "process"
    assert item.properties["parameters"]["size"] == 40


def test_a_loop_warm_starts_until_the_target_and_records_every_iteration(
    flows: Any, run_pipeline: Callable[..., RunResult], store: MetadataStore, mode: dict
) -> None:
    result = run_pipeline(flows.boosting, {"rounds": 10, "target": 0.96}, **mode)

    assert result.state == "COMPLETE", {t: r.error for t, r in result.tasks.items() if r.error}
    rounds = [r.outputs.parameters["total"] for r in result.instances("grow")]
    assert rounds == [10, 20, 30]  # each iteration continued from the previous model
    assert "grow[3]" not in result.tasks  # 1 - 1/31 >= 0.96: stopped after iteration 2
    assert result.tasks["milestone[0]"].state == ExecutionState.SKIPPED  # condition per iteration
    assert result.tasks["milestone[1]"].state == C
    assert result.outputs("finalize").parameters["Output"] == "30 rounds, 3 iterations"
    executions = _executions(store, result)
    assert executions["grow[2]"].properties["scope"] == {"loop-1": 2}
    models = {result.outputs(f"grow[{i}]").artifacts["model"].uri for i in range(3)}
    assert len(models) == 3
    run = store.find_context(CONTEXT_RUN, result.run_id)
    assert run is not None
    (loop,) = run.properties["loops"].values()
    assert loop["iterations"] == 3 and "held after iteration 2" in loop["reason"]


def test_a_loop_stops_at_its_bound(flows: Any, run_pipeline: Callable[..., RunResult]) -> None:
    result = run_pipeline(flows.boosting, {"rounds": 1, "target": 2.0}, in_process=True)

    assert result.state == "COMPLETE"
    assert [t for t in result.tasks if t.startswith("grow[")] == [f"grow[{i}]" for i in range(6)]
    assert result.outputs("finalize").parameters["Output"] == "6 rounds, 6 iterations"


def test_a_failed_iteration_stops_the_loop_and_a_rerun_resumes_from_the_cache(
    flows: Any, run_pipeline: Callable[..., RunResult], tmp_path: Path
) -> None:
    marker = tmp_path / "fail"
    marker.touch()
    params = {"rounds": 10, "target": 0.99, "fail_file": str(marker)}

    failed = run_pipeline(flows.boosting, params)

    assert failed.state == "FAILED"
    assert failed.tasks["grow[0]"].state == failed.tasks["grow[1]"].state == C
    assert failed.tasks["grow[2]"].state == ExecutionState.FAILED
    assert "diverged at 30 rounds" in (failed.tasks["grow[2]"].error or "")
    assert "grow[3]" not in failed.tasks
    assert failed.tasks["finalize"].state == ExecutionState.CANCELED

    marker.unlink()
    rerun = run_pipeline(flows.boosting, params)

    assert rerun.state == "COMPLETE"
    assert rerun.tasks["grow[0]"].cached and rerun.tasks["judge[1]"].cached
    assert rerun.tasks["grow[2]"].state == C and not rerun.tasks["grow[2]"].cached
    assert rerun.outputs("finalize").parameters["Output"] == "60 rounds, 6 iterations"


@pytest.mark.parametrize("fail", [False, True])
def test_the_exit_handler_always_runs_and_gets_the_status(
    flows: Any, run_pipeline: Callable[..., RunResult], tmp_path: Path, mode: dict, fail: bool
) -> None:
    path = tmp_path / "status.json"

    result = run_pipeline(flows.guarded, {"fail": fail, "path": str(path)}, **mode)

    assert result.tasks["notify"].state == C
    status = json.loads(path.read_text())
    assert status["run_id"] == result.run_id
    if fail:
        assert result.state == "FAILED"  # the handler's success does not hide the failure
        assert status["state"] == "FAILED"
        assert status["failed_tasks"] == ["work"]
        assert "work failed" in status["error"]
    else:
        assert result.state == "COMPLETE"
        assert status == {**status, "state": "COMPLETE", "failed_tasks": [], "error": None}


def test_a_memory_limit_from_a_parameter_kills_the_step_that_passes_it(
    flows: Any, run_pipeline: Callable[..., RunResult], tmp_path: Path
) -> None:
    ok = run_pipeline(
        flows.resources, {"memory": "400Mi", "megabytes": 20, "log_dir": str(tmp_path)}
    )
    assert ok.tasks["hog"].state == C

    over = run_pipeline(
        flows.resources, {"memory": "150Mi", "megabytes": 300, "log_dir": str(tmp_path)}
    )
    assert over.tasks["hog"].state == ExecutionState.FAILED
    assert "over its memory limit 150Mi" in (over.tasks["hog"].error or "")
    assert over.tasks["busy"].state.is_success  # the others are not affected


def test_steps_that_want_every_cpu_do_not_overlap(
    flows: Any, run_pipeline: Callable[..., RunResult], tmp_path: Path
) -> None:
    result = run_pipeline(flows.resources, {"log_dir": str(tmp_path), "cpus": 2.0}, workers=2)

    assert result.state == "COMPLETE"
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "ab")
    assert a["end"] <= b["start"] or b["end"] <= a["start"]


def test_a_bad_run_time_option_fails_the_step_with_the_value(
    flows: Any, run_pipeline: Callable[..., RunResult], tmp_path: Path
) -> None:
    result = run_pipeline(
        flows.resources, {"memory": "lots", "log_dir": str(tmp_path)}, in_process=True
    )

    assert result.state == "FAILED"
    assert result.tasks["hog"].state == ExecutionState.FAILED
    assert "option 'memory' got 'lots'" in (result.tasks["hog"].error or "")


def test_ctrl_c_cancels_the_run_and_the_exit_handler_still_reports_it(
    home: Path, tmp_path: Path
) -> None:
    marker, path = tmp_path / "started", tmp_path / "status.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env.update(CONVEYOR_HOME=str(home), CONVEYOR_AGENT="off")
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "conveyor", "run", "flow_pipelines.py:interrupted"),
            *("--json", "-p", f"marker={marker}", "-p", f"path={path}"),
        ],
        cwd=PIPELINES,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == 130, err
    result = json.loads(out)
    assert result["state"] == "CANCELED"
    assert result["tasks"]["linger"]["state"] == "CANCELED"
    assert result["tasks"]["linger-2[0]"]["state"] == "CANCELED"
    assert "linger-2[1]" not in result["tasks"]  # no iteration starts after a cancel
    assert result["tasks"]["notify"]["state"] == "COMPLETE"
    status = json.loads(path.read_text())
    assert status["state"] == "CANCELED"
    assert status["run_id"] == result["run_id"]


def test_a_cpu_request_limits_the_native_thread_pools_of_the_step(
    flows: Any, run_pipeline: Callable[..., RunResult], mode: dict
) -> None:
    result = run_pipeline(flows.threads, {"cpus": 1.0}, **mode)

    assert result.state == "COMPLETE"
    assert result.outputs("threads_seen").parameters["Output"] == 1
    unlimited = result.outputs("threads_seen-2").parameters["Output"]
    if (os.cpu_count() or 1) > 1:  # the limit is lifted after the step that asked for it
        assert unlimited > 1


@pytest.mark.parametrize(("retries", "state"), [(2, "COMPLETE"), (1, "FAILED")])
def test_retries_from_a_parameter(
    flows: Any,
    run_pipeline: Callable[..., RunResult],
    tmp_path: Path,
    mode: dict,
    retries: int,
    state: str,
) -> None:
    counter = tmp_path / "count"

    result = run_pipeline(flows.retried, {"retries": retries, "path": str(counter)}, **mode)

    assert result.state == state
    assert counter.read_text() == str(retries + 1)  # one attempt, then each retry
    assert result.tasks["flaky_count"].attempts == retries + 1


def test_a_loop_with_a_condition_inside_runs_the_same_on_postgresql(
    flows: Any, run_pipeline: Callable[..., RunResult], pg_url: str
) -> None:
    result = run_pipeline(flows.boosting, {"rounds": 10, "target": 0.96}, metadata_url=pg_url)

    assert result.state == "COMPLETE"
    assert [t for t in result.tasks if t.startswith("grow[")] == ["grow[0]", "grow[1]", "grow[2]"]
    assert result.tasks["milestone[0]"].state == ExecutionState.SKIPPED
    assert result.outputs("finalize").parameters["Output"] == "30 rounds, 3 iterations"
    again = run_pipeline(flows.boosting, {"rounds": 10, "target": 0.96}, metadata_url=pg_url)
    assert all(r.cached for r in again.tasks.values() if r.state.is_success)


def test_conveyor_sweep_runs_every_combination_under_one_experiment(
    flows: Any, home: Path, tmp_path: Path
) -> None:
    import conveyor
    from conveyor.config import Settings
    from conveyor.errors import SweepError

    settings = Settings.load(env={"CONVEYOR_HOME": str(home)}, cwd=str(tmp_path))
    grid = {"score": [0.5, 0.9], "bar": [0.6, 0.8]}

    results = conveyor.sweep(flows.gate, grid, experiment="gates", workers=2, settings=settings)

    assert [r.state for r in results] == ["COMPLETE"] * 4
    announced = [r.outputs("announce").parameters["Output"] for r in results]
    assert announced == ["ALERT 0.5", "ALERT 0.5", "DEPLOYED", "DEPLOYED"]
    store = connect(settings.metadata_url)
    try:
        runs = {c.name: c for c in store.list_contexts(CONTEXT_RUN)}
        assert {runs[r.run_id].properties["experiment"] for r in results} == {"gates"}
        sweeps = [runs[r.run_id].properties["sweep"] for r in results]
        assert [s["values"] for s in sweeps] == [
            {"score": 0.5, "bar": 0.6},
            {"score": 0.5, "bar": 0.8},
            {"score": 0.9, "bar": 0.6},
            {"score": 0.9, "bar": 0.8},
        ]
    finally:
        store.close()
    with pytest.raises(SweepError, match="'scor' is not a parameter of pipeline 'gate'"):
        conveyor.sweep(flows.gate, {"scor": [1]}, settings=settings)


def test_plan_decides_what_pipeline_parameters_already_decide(
    flows: Any, run_pipeline: Callable[..., RunResult], store: MetadataStore, home: Path
) -> None:
    from conveyor.orchestrator.plan import plan_run
    from conveyor.storage import open_store

    run_pipeline(flows.guarded, {"path": str(home / "s.json")})
    storage = open_store(str(home / "artifacts"))

    guarded = {e.task: e for e in plan_run(flows.guarded.spec, {"path": "x"}, store, storage)}
    # inside an exit handler the tasks are planned as usual; the handler waits for the run
    assert guarded["work"].decision == "hit"
    assert guarded["notify"].decision == "at-run-time"

    looped = {e.task: e for e in plan_run(flows.boosting.spec, {}, store, storage)}
    assert looped["grow"].decision == "at-run-time"
    assert "inside loop group 'loop-1'" in looped["grow"].reasons[0]
    before = len(store.list_executions())
    gate = {e.task: e for e in plan_run(flows.gate.spec, {}, store, storage)}
    assert gate["deploy"].decision == "at-run-time"  # decided by an output: at run time
    assert len(store.list_executions()) == before
