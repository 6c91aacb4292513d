"""Bad user code fails its step with a clear message; the run stays inspectable."""

from __future__ import annotations

import pytest

from conveyor.metadata import CONTEXT_RUN, ExecutionState
from conveyor.orchestrator import scheduler as scheduler_module

FAILED, CANCELED = ExecutionState.FAILED, ExecutionState.CANCELED


def test_failure_stops_dependants_only(load, run_pipeline, store, mode):
    result = run_pipeline(load("basic").branches, {"fail": True}, **mode)
    assert result.state == "FAILED"
    assert result.failed_tasks == ["maybe_fail"]
    assert result.tasks["count"].state == CANCELED  # downstream of the failure
    assert "upstream task 'maybe_fail'" in (result.tasks["count"].error or "")
    assert result.tasks["count-2"].state == ExecutionState.COMPLETE  # independent branch
    ctx = store.find_context(CONTEXT_RUN, result.run_id)
    assert ctx.properties["state"] == "FAILED"
    assert ctx.properties["failed_tasks"] == ["maybe_fail"]
    failed = store.list_executions(context_id=ctx.id, name="maybe_fail")[0]
    assert failed.state == FAILED
    assert failed.properties["error"]["type"] == "ValueError"
    assert "asked to fail" in failed.properties["error"]["message"]
    assert "basic.py" in failed.properties["error"]["traceback"]


def test_rerun_after_a_fix_resumes_from_cache(load, run_pipeline):
    basic = load("basic")
    run_pipeline(basic.branches, {"fail": True})
    fixed = run_pipeline(basic.branches, {"fail": False})
    assert fixed.ok
    assert fixed.tasks["ingest"].state == ExecutionState.CACHED
    assert fixed.tasks["count-2"].state == ExecutionState.CACHED
    assert fixed.tasks["maybe_fail"].state == ExecutionState.COMPLETE


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        ("bad_raises", "RuntimeError: boom in user code"),
        ("bad_exits", "called sys.exit(3)"),
        ("bad_wrong_type", "declares integer"),
        ("bad_forgets_output", "did not write its output"),
        ("bad_loops", "ran past its timeout of 1 s"),
        ("bad_nan", "outputs must be finite JSON numbers"),
    ],
)
def test_bad_user_code_fails_the_step_with_a_clear_message(
    load, run_pipeline, store, mode, pipeline, message
):
    result = run_pipeline(getattr(load("basic"), pipeline), **mode)
    assert result.state == "FAILED"
    (task,) = result.tasks.values()
    assert task.state == FAILED
    assert message in (task.error or "")
    recorded = store.get_execution(task.execution_id)
    assert recorded.state == FAILED
    assert message in recorded.properties["error"]["message"]


def test_crashing_worker_fails_only_that_step(load, run_pipeline, store):
    result = run_pipeline(load("basic").bad_aborts)
    (task,) = result.tasks.values()
    assert task.state == FAILED
    assert "killed by signal SIGABRT" in (task.error or "")
    ctx = store.find_context(CONTEXT_RUN, result.run_id)
    (execution,) = store.list_executions(context_id=ctx.id)
    assert execution.state == FAILED
    assert "SIGABRT" in execution.properties["error"]["message"]
    assert ctx.properties["state"] == "FAILED"


def test_step_that_ignores_its_timeout_is_killed(load, run_pipeline, monkeypatch):
    monkeypatch.setattr(scheduler_module, "TIMEOUT_GRACE_SECONDS", 0.5)
    result = run_pipeline(load("basic").bad_ignores_timeout)
    (task,) = result.tasks.values()
    assert task.state == FAILED
    assert "ran past its timeout" in (task.error or "")


def test_pool_keeps_working_after_a_crash(load, run_pipeline):
    basic = load("basic")
    run_pipeline(basic.bad_aborts)
    assert run_pipeline(basic.demo, {"text": "after crash"}).ok


def test_retries_with_backoff_then_succeed(load, run_pipeline, store, tmp_path, mode):
    counter = tmp_path / "counter"
    result = run_pipeline(load("basic").flaky_pipeline, {"counter": str(counter)}, **mode)
    assert result.ok
    assert result.outputs("flaky").parameters == {"Output": 3}
    assert result.tasks["flaky"].attempts == 3
    execution = store.get_execution(result.tasks["flaky"].execution_id)
    errors = [a.get("error", "") for a in execution.properties["attempts"]]
    assert "transient failure 1" in errors[0] and "transient failure 2" in errors[1]
