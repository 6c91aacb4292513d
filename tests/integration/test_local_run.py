"""A pipeline runs end to end on the local orchestrator and records full lineage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conveyor._internal.hashing import digest_path
from conveyor.metadata import CONTEXT_RUN, ArtifactState, EventType, ExecutionState


def test_run_completes_with_outputs_and_lineage(load, run_pipeline, store, mode: dict[str, Any]):
    basic = load("basic")
    result = run_pipeline(basic.demo, {"text": "abc", "C": 2.0}, **mode)

    assert result.ok, result.tasks
    assert {t: r.state for t, r in result.tasks.items()} == {
        "ingest": ExecutionState.COMPLETE,
        "prepare": ExecutionState.COMPLETE,
        "train": ExecutionState.COMPLETE,
    }
    assert result.outputs("ingest").parameters == {"Output": 3}
    assert result.outputs("train").parameters == {"Output": 6.0}
    clean = result.outputs("prepare").artifacts["clean"]
    assert Path(clean.uri).read_text() == "ABC"
    model = result.outputs("train").artifacts["model"]
    assert json.loads((Path(model.uri) / "weights.json").read_text()) == {"C": 2.0, "n": 3}

    run_ctx = store.find_context(CONTEXT_RUN, result.run_id)
    assert run_ctx.properties["state"] == "COMPLETE"
    assert run_ctx.properties["parameters"] == {"text": "abc", "C": 2.0}
    executions = store.list_executions(context_id=run_ctx.id)
    assert sorted(e.name for e in executions) == ["ingest", "prepare", "train"]
    train_exec = next(e for e in executions if e.name == "train")
    events = store.get_events(execution_ids=[train_exec.id])
    assert {(e.type, e.path) for e in events} == {
        (EventType.INPUT, "data"),
        (EventType.OUTPUT, "model"),
        (EventType.OUTPUT, "metrics"),
    }


def test_run_records_content_fingerprints_of_every_artifact(load, run_pipeline, store):
    result = run_pipeline(load("basic").demo)
    arts = store.list_artifacts(context_id=result.run_context_id)
    assert len(arts) == 4  # data, clean, model, metrics
    for art in arts:
        assert art.state == ArtifactState.LIVE
        assert art.fingerprint == digest_path(art.uri)[0]
        assert art.size_bytes == digest_path(art.uri)[1]
    metrics = next(a for a in arts if a.type_name.startswith("conveyor.Metrics"))
    assert metrics.properties == {"score": 11.0}
    assert json.loads(Path(metrics.uri).read_text()) == {"score": 11.0}


def test_run_lineage_of_model_reaches_the_raw_data(load, run_pipeline, store):
    result = run_pipeline(load("basic").demo)
    model = result.outputs("train").artifacts["model"]
    raw = result.outputs("ingest").artifacts["data"]
    graph = store.lineage(model.id, "upstream")
    assert {e.name for e in graph.executions} == {"ingest", "prepare", "train"}
    assert raw.id in {a.id for a in graph.artifacts}
    down = store.lineage(raw.id, "downstream")
    assert model.id in {a.id for a in down.artifacts}


def test_run_writes_each_step_log_to_its_own_file(load, run_pipeline, home, mode):
    result = run_pipeline(load("basic").demo, {"text": "four"}, **mode)
    log = home / "logs" / result.run_id / "ingest.log"
    assert "ingested 4 chars" in log.read_text()


def test_run_streams_step_logs_to_the_reporter(load, run_pipeline, mode):
    from conveyor.orchestrator import RunReporter

    class Recorder(RunReporter):
        def __init__(self) -> None:
            self.logs: list[tuple[str, str]] = []
            self.finished: list[str] = []

        def task_log(self, task: str, text: str) -> None:
            self.logs.append((task, text))

        def after_task(self, result: Any) -> None:
            self.finished.append(result.task)

    rec = Recorder()
    run_pipeline(load("basic").demo, {"text": "xyz"}, reporter=rec, **mode)
    assert any(t == "ingest" and "ingested 3 chars" in text for t, text in rec.logs)
    assert rec.finished == ["ingest", "prepare", "train"]


def test_run_rejects_a_wrong_parameter_type_before_starting(load, run_pipeline, store):
    import pytest

    from conveyor.errors import DefinitionError

    with pytest.raises(DefinitionError, match="expects number"):
        run_pipeline(load("basic").demo, {"C": "high"})
    assert store.list_contexts(CONTEXT_RUN) == []


def test_run_on_a_memory_artifact_store(load, run_pipeline):
    import fsspec

    result = run_pipeline(
        load("basic").demo, {"text": "mem"}, artifact_root="memory://cv-test", in_process=True
    )
    assert result.ok
    uri = result.outputs("prepare").artifacts["clean"].uri
    assert uri.startswith("memory://cv-test/")
    with fsspec.open(uri, "r") as fh:
        assert fh.read() == "MEM"


def test_artifacts_are_published_under_the_run(load, run_pipeline, home):
    result = run_pipeline(load("basic").demo)
    uri = result.outputs("ingest").artifacts["data"].uri
    assert uri.startswith(str(home / "artifacts" / "demo" / result.run_id))
    leftovers = [p for p in (home / "artifacts").rglob("*") if ".partial-" in p.name]
    assert leftovers == []


def test_memory_store_needs_in_process_mode(load, run_pipeline, store):
    import pytest

    from conveyor.errors import DefinitionError

    with pytest.raises(DefinitionError, match="--in-process"):
        run_pipeline(load("basic").demo, artifact_root="memory://cv-workers")
    assert store.list_contexts(CONTEXT_RUN) == []


def test_object_store_without_its_package_fails_before_the_run(load, run_pipeline, store):
    import importlib.util

    import pytest

    from conveyor.errors import MissingExtraError

    if importlib.util.find_spec("s3fs") is not None:
        pytest.skip("s3fs is installed")
    with pytest.raises(MissingExtraError, match=r"conveyor-ml\[s3\]"):
        run_pipeline(load("basic").demo, artifact_root="s3://bucket/prefix")
    assert store.list_contexts(CONTEXT_RUN) == []
