"""The artifact, lineage and models routes on stores built by hand (SQLite and PostgreSQL):
a graph too large is cut around its focus and says so; with no registered model the pushed
ones are listed; a data set's first rows, from a local or a remote (fsspec) store."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import pytest
from artifact_support import own_schema

from conveyor.metadata import ExecutionState, NewArtifact, connect
from conveyor.storage import ArtifactStore, open_store
from conveyor.types.evaluation import PushedModel
from conveyor.ui.context import UIConfig, UIContext
from conveyor.ui.routes import artifacts, lineage, models

FAN_OUT = lineage.MAX_NODES + 50


@pytest.fixture(params=["sqlite", "postgresql"])
def ctx(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UIContext]:
    with ExitStack() as stack:
        if request.param == "postgresql":
            url = stack.enter_context(own_schema(request.getfixturevalue("pg_uri")))
        else:
            url = f"sqlite:///{tmp_path}/metadata.db"
        root = tmp_path / "artifacts"
        root.mkdir()
        config = UIConfig(metadata_url=url, artifact_root=str(root), home=str(tmp_path))
        store = connect(url)
        stack.callback(store.close)
        yield UIContext(config, store, open_store(str(root)), {})


def test_a_huge_graph_is_cut_around_its_focus(ctx: UIContext) -> None:
    store = ctx.metadata
    _, (source,) = store.record_execution(
        "conveyor.Importer", "load", ExecutionState.COMPLETE,
        outputs=[NewArtifact("data", "conveyor.Dataset@1.0.0", "/data/source")],
    )  # fmt: skip
    _, outputs = store.record_execution(
        "conveyor.Component", "explode", ExecutionState.COMPLETE,
        inputs=[("data", source.id)],
        outputs=[NewArtifact(f"part{i}", "conveyor.Dataset@1.0.0", f"/data/p{i}")
                 for i in range(FAN_OUT)],
    )  # fmt: skip
    graph = lineage.artifact_lineage(source.id, "downstream", 3, ctx)
    assert graph["truncated"] is True and len(graph["nodes"]) == lineage.MAX_NODES
    ids = {n["id"] for n in graph["nodes"]}
    assert f"a{source.id}" in ids and any(n["focus"] for n in graph["nodes"])
    assert all(e["source"] in ids and e["target"] in ids for e in graph["edges"])

    small = lineage.artifact_lineage(outputs[0].id, "upstream", 3, ctx)
    assert small["truncated"] is False
    assert {n["label"] for n in small["nodes"]} == {"Dataset", "explode", "load"}
    around = lineage.execution_lineage(
        store.get_events(artifact_ids=[outputs[0].id])[0].execution_id, "both", 2, ctx
    )
    assert around["truncated"] is True and around["nodes"][0]["kind"] == "artifact"


def test_pushed_models_are_listed_when_nothing_is_registered(ctx: UIContext) -> None:
    root = Path(ctx.config.artifact_root)
    folder = root / "run1" / "pusher" / "pushed_model"
    folder.mkdir(parents=True)
    (folder / "push.json").write_text(
        json.dumps({"pushed": True, "reason": "blessed", "pushed_destination": "/srv/m/1"})
    )
    ctx.metadata.record_execution(
        "conveyor.Component", "pusher", ExecutionState.COMPLETE,
        outputs=[NewArtifact("pushed_model", PushedModel.type_id(), str(folder))],
    )  # fmt: skip
    listing = models.list_models(ctx)
    assert listing["models"] == [] and listing["registry"] is True
    (pushed,) = listing["pushed"]
    assert pushed["pushed"] is True and pushed["destination"] == "/srv/m/1"


def _dataset(ctx: UIContext, store: ArtifactStore, *parts: str) -> int:
    """A Dataset artifact (a folder holding rows.csv) committed to ``store`` and recorded."""
    uri = store.uri_for(*parts)
    staged = Path(store.staging_path(uri))
    staged.mkdir(parents=True)
    (staged / "rows.csv").write_text("city,temp\nOslo,3.5\nLima,19.0\nPerth,25.25\n")
    fp = store.commit(str(staged), uri)
    _, (art,) = ctx.metadata.record_execution(
        "conveyor.Component", "ingest", ExecutionState.COMPLETE,
        outputs=[NewArtifact("data", "conveyor.Dataset@1.0.0", uri, fingerprint=fp.digest)],
    )  # fmt: skip
    return art.id


def _sample_and_file(ctx: UIContext, art_id: int) -> None:
    view = artifacts.get_view(art_id, None, None, 2, ctx)
    assert isinstance(view, dict), view.body
    sample = view["sample"]
    assert [c["type"] for c in sample["columns"]] == ["string", "double"]
    assert sample["rows"] == [["Oslo", 3.5], ["Lima", 19.0]]
    assert [f["path"] for f in artifacts.get_files(art_id, ctx)["files"]] == ["rows.csv"]
    one = artifacts.download(art_id, "rows.csv", ctx)
    assert Path(one.path).read_text().startswith("city,temp")  # type: ignore[attr-defined]
    refusal = artifacts.download(art_id, "../rows.csv", ctx)
    assert refusal.status_code == 400 and b"fix" in refusal.body


def test_a_local_dataset_shows_its_first_rows(ctx: UIContext) -> None:
    _sample_and_file(ctx, _dataset(ctx, ctx.artifacts, "run1", "ingest", "data"))


def test_a_remote_store_serves_through_its_local_copy(ctx: UIContext, tmp_path: Path) -> None:
    """An fsspec store (``memory://``): artifacts under its root are read through the store's
    local copy; a URL elsewhere is refused."""
    root = f"memory://ui-remote-{uuid.uuid4().hex[:8]}"
    remote = open_store(root, scratch=str(tmp_path / "scratch"))
    config = replace(ctx.config, artifact_root=root)
    rctx = UIContext(config, ctx.metadata, remote, {})
    _sample_and_file(rctx, _dataset(rctx, remote, "run1", "ingest", "data"))
    elsewhere = open_store(f"{root}-other", scratch=str(tmp_path / "scratch2"))
    outside = _dataset(rctx, elsewhere, "run1", "ingest", "data")
    refused = artifacts.get_files(outside, rctx)
    assert refused.status_code == 403 and b"outside the artifact root" in refused.body
