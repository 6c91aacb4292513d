"""The content-addressed cache: hits, misses, and the reason for each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conveyor.metadata import ArtifactState, ExecutionState
from conveyor.orchestrator import plan_run
from conveyor.storage import open_store

CACHED, COMPLETE = ExecutionState.CACHED, ExecutionState.COMPLETE


def states(result: Any) -> dict[str, ExecutionState]:
    return {t: r.state for t, r in result.tasks.items()}


def test_rerun_reuses_every_step(load, run_pipeline, mode):
    basic = load("basic")
    first = run_pipeline(basic.demo, **mode)
    second = run_pipeline(basic.demo, **mode)
    assert set(states(second).values()) == {CACHED}
    for task in first.tasks:
        assert second.outputs(task).parameters == first.outputs(task).parameters
        assert second.outputs(task).artifacts == first.outputs(task).artifacts


def test_changed_parameter_reruns_only_the_steps_that_use_it(load, run_pipeline):
    basic = load("basic")
    run_pipeline(basic.demo, {"C": 1.0})
    second = run_pipeline(basic.demo, {"C": 3.0})
    assert states(second) == {"ingest": CACHED, "prepare": CACHED, "train": COMPLETE}
    assert "parameter C: 1.0 -> 3.0" in second.tasks["train"].cache_reason


def test_identical_bytes_under_a_new_artifact_hit_downstream(load, run_pipeline):
    """Content addressing: ingest reruns (cache off) but writes the same bytes, so the
    steps after it are reused even though their input is a different artifact."""
    basic = load("basic")
    first = run_pipeline(basic.demo)
    second = run_pipeline(basic.demo, use_cache=False)
    assert states(second)["ingest"] == COMPLETE
    third_orch_result = run_pipeline(basic.demo)  # ingest cached again; rest cached too
    assert set(states(third_orch_result).values()) == {CACHED}
    new_data = second.outputs("ingest").artifacts["data"]
    old_data = first.outputs("ingest").artifacts["data"]
    assert new_data.id != old_data.id and new_data.fingerprint == old_data.fingerprint


def test_same_bytes_from_a_different_parameter_still_hit_downstream(load, run_pipeline):
    basic = load("basic")
    run_pipeline(basic.demo, {"text": "abc"})
    # a different pipeline parameter that produces identical bytes downstream of prepare
    second = run_pipeline(basic.demo, {"text": "ABC"})
    assert states(second) == {"ingest": COMPLETE, "prepare": COMPLETE, "train": CACHED}


def test_modified_cached_output_is_not_reused_and_is_abandoned(load, run_pipeline, store):
    basic = load("basic")
    first = run_pipeline(basic.demo)
    clean = first.outputs("prepare").artifacts["clean"]
    Path(clean.uri).write_text("tampered")
    second = run_pipeline(basic.demo)
    assert states(second) == {"ingest": CACHED, "prepare": COMPLETE, "train": CACHED}
    assert "modified" in second.tasks["prepare"].cache_reason
    assert store.get_artifact(clean.id).state == ArtifactState.ABANDONED


def test_deleted_cached_output_is_recomputed(load, run_pipeline):
    basic = load("basic")
    first = run_pipeline(basic.demo)
    Path(first.outputs("ingest").artifacts["data"].uri).unlink()
    second = run_pipeline(basic.demo)
    assert states(second)["ingest"] == COMPLETE
    assert "gone" in second.tasks["ingest"].cache_reason


def test_no_cache_runs_every_step(load, run_pipeline):
    basic = load("basic")
    run_pipeline(basic.demo)
    second = run_pipeline(basic.demo, use_cache=False)
    assert set(states(second).values()) == {COMPLETE}


def test_component_opt_out_and_declared_environment(load, run_pipeline, monkeypatch):
    basic = load("basic")
    monkeypatch.setenv("CV_TEST_SEED", "1")
    run_pipeline(basic.options, in_process=True)
    second = run_pipeline(basic.options, in_process=True)
    assert states(second) == {"seeded": CACHED, "never_cached": COMPLETE}
    assert second.tasks["never_cached"].cache_reason == "cache disabled for this task"
    monkeypatch.setenv("CV_TEST_SEED", "2")
    third = run_pipeline(basic.options, in_process=True)
    assert states(third)["seeded"] == COMPLETE
    assert "environment variable CV_TEST_SEED changed" in third.tasks["seeded"].cache_reason


def test_plan_lists_hits_and_misses_with_reasons(load, run_pipeline, store, home):
    basic = load("basic")
    run_pipeline(basic.demo, {"C": 1.0})
    storage = open_store(str(home / "artifacts"))
    same = plan_run(basic.demo.spec, {"C": 1.0}, store, storage)
    assert [e.decision for e in same] == ["hit", "hit", "hit"]
    changed = plan_run(basic.demo.spec, {"C": 5.0, "text": "other"}, store, storage)
    by_task = {e.task: e for e in changed}
    assert by_task["ingest"].decision == "miss"
    assert any("parameter text" in r for r in by_task["ingest"].reasons)
    assert by_task["prepare"].decision == "after-upstream"
    assert by_task["train"].decision == "after-upstream"


def test_plan_writes_nothing(load, run_pipeline, store, home):
    basic = load("basic")
    run_pipeline(basic.demo)
    before = len(store.list_executions())
    plan_run(basic.demo.spec, {"C": 9.0}, store, open_store(str(home / "artifacts")))
    assert len(store.list_executions()) == before
