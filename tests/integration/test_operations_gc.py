"""Run lifecycle (archive, restore, delete) and garbage collection on real stores (SQLite and
PostgreSQL): runs sharing cached steps, one archived, one deleted, a registered model from a
deleted run, an importer's file outside the artifact root and two rows sharing a URI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conveyor._internal.hashing import digest_path
from conveyor.errors import NotFoundError
from conveyor.metadata import CONTEXT_RUN, ArtifactState, ExecutionState, connect
from conveyor.metadata.entities import NewArtifact
from conveyor.operations import (
    ActionConflict,
    archive_run,
    collect_garbage,
    delete_run,
    plan_gc,
    restore_run,
    retry_plan,
)
from conveyor.orchestrator import LocalOrchestrator
from conveyor.storage import open_store

PIPELINES = Path(__file__).parent / "pipelines"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, home: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{home}/metadata.db"
    return str(request.getfixturevalue("pg_url"))


def _outputs(metadata: Any, run_id: str) -> dict[str, Any]:
    """``{"task.key": artifact}`` of a run's executions' outputs."""
    ctx = metadata.find_context(CONTEXT_RUN, run_id)
    found: dict[str, Any] = {}
    for ex in metadata.list_executions(context_id=ctx.id):
        events = [e for e in metadata.get_events(execution_ids=[ex.id]) if e.type.is_output]
        for e in events:
            found[f"{ex.name}.{e.path}"] = metadata.get_artifact(e.artifact_id)
    return found


def test_gc_deletes_only_what_nothing_kept_needs(load, home: Path, url: str, tmp_path: Path):
    demo = load("basic").demo
    root = home / "artifacts"
    orch = LocalOrchestrator(
        metadata_url=url, artifact_root=str(root), home=str(home), in_process=True,
        search_root=str(PIPELINES),
    )  # fmt: skip
    with orch:
        a = orch.run(demo.spec, {"text": "abc", "C": 1.0}, run_id="run-a")  # deleted
        b = orch.run(demo.spec, {"text": "abc", "C": 2.0}, run_id="run-b")  # kept, cache hits
        c = orch.run(demo.spec, {"text": "xyz", "C": 1.0}, run_id="run-c")  # archived
        d = orch.run(demo.spec, {"text": "model", "C": 3.0}, run_id="run-d")  # deleted, model
    assert all(r.ok for r in (a, b, c, d))
    assert b.tasks["ingest"].state == ExecutionState.CACHED
    metadata = connect(url)
    storage = open_store(str(root))
    try:
        out = {r: _outputs(metadata, r) for r in ("run-a", "run-b", "run-c", "run-d")}
        metadata.register_model("champion")
        metadata.create_model_version("champion", out["run-d"]["train.model"].id)
        # an importer's artifact in a deleted run naming the user's own file (outside the root)
        user_file = tmp_path / "user-data.csv"
        user_file.write_text("x,y\n1,2\n")
        ctx_a = metadata.find_context(CONTEXT_RUN, "run-a")
        ctx_b = metadata.find_context(CONTEXT_RUN, "run-b")
        metadata.record_execution(
            "Importer", "import", ExecutionState.COMPLETE, contexts=[ctx_a.id],
            outputs=[NewArtifact(key="out", type_name="Dataset", uri=str(user_file))],
        )  # fmt: skip
        # one file under the root recorded twice: by the deleted run and by a kept one
        shared = root / "shared.txt"
        shared.write_text("shared bytes")
        for ctx in (ctx_a, ctx_b):
            metadata.record_execution(
                "Importer", "share", ExecutionState.COMPLETE, contexts=[ctx.id],
                outputs=[NewArtifact(key="out", type_name="Dataset", uri=str(shared))],
            )  # fmt: skip
        assert (home / "logs" / "run-a").is_dir()

        with pytest.raises(NotFoundError):
            delete_run(metadata, "no-such-run")
        assert plan_gc(metadata, storage, home=str(home)).artifacts == ()  # all runs active
        preview = plan_gc(metadata, storage, home=str(home), only_runs=["run-c"])
        assert {x.id for x in preview.artifacts} == {x.id for x in out["run-c"].values()}
        assert [g.run_id for g in preview.logs] == ["run-c"]  # logs counted as if deleted

        delete_run(metadata, "run-a")
        archive_run(metadata, "run-c")
        delete_run(metadata, "run-d")
        plan = plan_gc(metadata, storage, home=str(home))
        garbage = {x.id for x in plan.artifacts}
        expected = {
            out["run-a"]["train.model"].id, out["run-a"]["train.metrics"].id,
            *(x.id for x in out["run-c"].values()),
            out["run-d"]["train.metrics"].id,
        }  # fmt: skip
        assert garbage == expected
        assert plan.total_bytes >= sum(x.bytes for x in plan.artifacts) > 0
        assert sorted(g.run_id for g in plan.logs) == ["run-a", "run-d"]  # archived: logs kept
        assert set(plan.runs) == {"run-a", "run-c", "run-d"}

        done = collect_garbage(metadata, storage, home=str(home))
        assert done.collected and not done.errors
        for art in metadata.get_artifacts(sorted(expected)):
            assert art.state == ArtifactState.DELETED
            assert not Path(art.uri).exists()
        kept = [
            out["run-a"]["ingest.data"], out["run-a"]["prepare.clean"],  # reused by run-b
            *out["run-b"].values(),
            out["run-d"]["train.model"], out["run-d"]["prepare.clean"],  # the model + upstream
            out["run-d"]["ingest.data"],
        ]  # fmt: skip
        for art in kept:
            current = metadata.get_artifact(art.id)
            assert current.state == ArtifactState.LIVE
            assert digest_path(art.uri)[0] == art.fingerprint
        assert user_file.read_text() == "x,y\n1,2\n"
        assert shared.read_text() == "shared bytes"
        assert not (home / "logs" / "run-a").exists() and not (home / "logs" / "run-d").exists()
        assert (home / "logs" / "run-c").is_dir() and (home / "logs" / "run-b").is_dir()
        assert plan_gc(metadata, storage, home=str(home)).artifacts == ()  # nothing left

        # a later run needing a collected artifact misses the cache cleanly and recomputes
        with orch:
            again = orch.run(demo.spec, {"text": "xyz", "C": 1.0}, run_id="run-e")
        assert again.ok
        assert again.tasks["ingest"].state == ExecutionState.COMPLETE
        assert again.tasks["train"].state == ExecutionState.COMPLETE
    finally:
        metadata.close()


def test_archive_restore_delete_lifecycle(load, home: Path, url: str):
    demo = load("basic").demo
    orch = LocalOrchestrator(
        metadata_url=url, artifact_root=str(home / "artifacts"), home=str(home),
        in_process=True, search_root=str(PIPELINES),
    )  # fmt: skip
    with orch:
        orch.run(demo.spec, {"text": "life"}, run_id="life")
    metadata = connect(url)
    try:
        assert archive_run(metadata, "life")["lifecycle"] == "archived"
        props = metadata.find_context(CONTEXT_RUN, "life").properties
        assert props["lifecycle"] == "archived" and props["archived_at"] > 0
        assert props["state"] == "COMPLETE"  # everything else kept
        assert restore_run(metadata, "life")["lifecycle"] == "active"
        assert not metadata.find_context(CONTEXT_RUN, "life").properties.get("lifecycle")
        assert delete_run(metadata, "life")["lifecycle"] == "deleted"
        with pytest.raises(ActionConflict, match="Restore it first"):
            archive_run(metadata, "life")
        restore_run(metadata, "life")
        ctx = metadata.find_context(CONTEXT_RUN, "life")
        metadata.update_context(ctx.id, {"state": "RUNNING"})  # as while it runs
        for action in (archive_run, delete_run):
            with pytest.raises(ActionConflict, match="terminate") as info:
                action(metadata, "life")
            assert info.value.status == 409 and "conveyor runs terminate life" in info.value.fix
    finally:
        metadata.close()


def test_gc_spares_a_run_being_retried_and_retry_refuses_collected_artifacts(
    load: Any, home: Path, url: str, tmp_path: Path
):
    mend = load("actions_pipelines").mend
    root = home / "artifacts"
    orch = LocalOrchestrator(
        metadata_url=url, artifact_root=str(root), home=str(home), in_process=True,
        search_root=str(PIPELINES),
    )  # fmt: skip
    params = {"tally": str(tmp_path / "tally"), "gate": str(tmp_path / "gate")}
    with orch:
        assert orch.run(mend.spec, params, run_id="half").state == "FAILED"
    metadata = connect(url)
    storage = open_store(str(root))
    try:
        archive_run(metadata, "half")
        ctx = metadata.find_context(CONTEXT_RUN, "half")
        metadata.update_context(ctx.id, {"state": "RUNNING"})  # as while a retry runs
        assert plan_gc(metadata, storage).artifacts == ()
        metadata.update_context(ctx.id, {"state": "FAILED"})
        assert len(collect_garbage(metadata, storage).artifacts) == 1  # produce's data set
        with pytest.raises(ActionConflict, match="conveyor gc deleted") as info:
            retry_plan(metadata, "half")
        assert "clone" in info.value.fix
    finally:
        metadata.close()
