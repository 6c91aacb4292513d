"""Importers keep the cache honest about external files."""

from __future__ import annotations

import pytest

from conveyor.metadata import ExecutionState


def test_unchanged_file_reuses_downstream_and_a_changed_one_reruns(load, run_pipeline, tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("a\nb\n")
    pipe = load("imports").imports
    first = run_pipeline(pipe, {"path": str(source)})
    assert first.outputs("line_count").parameters == {"Output": 2}

    second = run_pipeline(pipe, {"path": str(source)})
    assert second.tasks["import_dataset"].state == ExecutionState.COMPLETE  # never cached
    assert second.tasks["line_count"].state == ExecutionState.CACHED

    source.write_text("a\nb\nc\n")
    third = run_pipeline(pipe, {"path": str(source)})
    assert third.tasks["line_count"].state == ExecutionState.COMPLETE
    assert third.outputs("line_count").parameters == {"Output": 3}
    assert "input data: content changed (from task 'import_dataset')" in (
        third.tasks["line_count"].cache_reason
    )


def test_import_from_an_fsspec_url(load, run_pipeline, tmp_path):
    import fsspec

    with fsspec.open("memory://cv-import/data.csv", "w") as fh:
        fh.write("x\ny\nz\n")
    result = run_pipeline(
        load("imports").imports, {"path": "memory://cv-import/data.csv"}, in_process=True
    )
    assert result.outputs("line_count").parameters == {"Output": 3}


@pytest.mark.parametrize("mode_kw", [{"in_process": True}, {}])
def test_missing_source_fails_with_the_path(load, run_pipeline, tmp_path, mode_kw):
    result = run_pipeline(load("imports").imports, {"path": str(tmp_path / "nope.csv")}, **mode_kw)
    assert result.failed_tasks == ["import_dataset"]
    assert "Nothing to import at" in (result.tasks["import_dataset"].error or "")
    assert "nope.csv" in (result.tasks["import_dataset"].error or "")


def test_plan_sees_past_an_importer(load, run_pipeline, store, home, tmp_path):
    from conveyor.orchestrator import plan_run
    from conveyor.storage import open_store

    source = tmp_path / "data.csv"
    source.write_text("a\nb\n")
    pipe = load("imports").imports
    run_pipeline(pipe, {"path": str(source)})
    storage = open_store(str(home / "artifacts"))
    plan = {e.task: e for e in plan_run(pipe.spec, {"path": str(source)}, store, storage)}
    assert plan["import_dataset"].decision == "runs"
    assert plan["line_count"].decision == "hit"
    source.write_text("changed\n")
    plan = {e.task: e for e in plan_run(pipe.spec, {"path": str(source)}, store, storage)}
    assert plan["line_count"].decision == "miss"
    assert plan["line_count"].reasons == [
        "input data: content changed (from task 'import_dataset')"
    ]
