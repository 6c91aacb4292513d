"""The store on the DB-API drivers reads and writes what the SQLAlchemy version wrote, whichever
way the database was built (embedded DDL, Alembic scripts, an upgrade from 0001), and a run on
SQLite never imports SQLAlchemy or Alembic."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conveyor.metadata import ArtifactState, ExecutionState, NewArtifact, connect
from conveyor.metadata.entities import MetricRecord
from conveyor.metadata.sql import SqlMetadataStore, _engine, _migrate, _sa, models

COMPLETE = ExecutionState.COMPLETE

# unicode, nesting, every JSON type; what properties hold in practice (params, errors, attempts)
PROPERTIES: dict[str, Any] = {
    "text": "naïve café ✓ 日本語 'quoted' \"double\" \\ back",
    "nested": {"list": [1, 2.5, None, True, {"deep": ["x", {"y": []}]}], "empty": {}},
    "big": 2**53 + 1,
    "neg": -0.125,
    "flag": False,
    "none": None,
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def new_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes URIs of empty databases on one backend (PostgreSQL: new schemas, dropped after)."""
    made: list[str] = []

    def make() -> str:
        tag = uuid.uuid4().hex[:10]
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / tag}.db"
        base = str(request.getfixturevalue("pg_uri")).partition("?")[0]
        made.append(f"compat_{tag}")
        return f"{base}?schema=compat_{tag}"

    yield make
    if made:
        import psycopg

        base = str(request.getfixturevalue("pg_uri")).partition("?")[0]
        with psycopg.connect(base, autocommit=True) as conn:
            for schema in made:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _alembic(uri: str, revision: str) -> sa.Engine:
    """Build the database with the Alembic migration scripts up to ``revision``."""
    engine = _sa.create_engine(_engine.parse_uri(uri))
    _migrate.migrate(engine, revision, schema=_engine.parse_uri(uri).schema)
    return engine


def _scenario(store: SqlMetadataStore, tag: str) -> dict[str, Any]:
    """Write a small pipeline run with every kind of write, then read everything back, with ids
    made relative and timestamps checked (aware UTC, ordered) then dropped."""
    pipeline = store.put_context("conveyor.Pipeline", f"p-{tag}", {"owner": "ü"})
    run = store.put_context("conveyor.PipelineRun", f"r-{tag}", PROPERTIES, parents=[pipeline.id])
    store.update_context(run.id, {"state": "RUNNING", "nested": {"replaced": True}})
    _, [data] = store.record_execution(
        "Importer",
        "import",
        COMPLETE,
        contexts=[run.id],
        outputs=[NewArtifact(key="data", type_name="Dataset", uri="/d", properties=PROPERTIES)],
        properties={"attempts": [1, 2]},
        cache_key=f"k-{tag}",
    )
    train = store.start_execution(
        "Trainer", "train", contexts=[run.id], inputs=[("data", data.id)], properties={"a": 1}
    )
    [model] = store.finish_execution(
        train,
        COMPLETE,
        outputs=[
            NewArtifact(key="model", type_name="Model", uri="/m", fingerprint="f", size_bytes=7)
        ],
        properties={"b": "β"},
        cache_key=f"t-{tag}",
    )
    store.record_execution(
        "Trainer",
        "train",
        ExecutionState.CACHED,
        contexts=[run.id],
        reused_outputs=[("model", model.id)],
    )
    store.update_execution(train, properties={"c": [None]})
    store.set_artifact_state([data.id], ArtifactState.ABANDONED)
    store.log_metrics(
        [MetricRecord(run.id, train, "loss", 0.5, 1, 10.25)],
        context_properties=(run.id, {"state": "COMPLETE"}),
    )

    ids: dict[tuple[str, int], str] = {}

    def rel(kind: str, value: int) -> str:
        return ids.setdefault((kind, value), f"{kind}{len(ids)}")

    def plain(record: Any, kind: str) -> dict[str, Any]:
        fields = dict(vars(record)) if hasattr(record, "__dict__") else record._asdict()
        for key in ("created_at", "updated_at"):
            if key in fields:
                stamp = fields.pop(key)
                assert stamp.tzinfo is UTC, (kind, key, stamp)
                assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=5)
        if "id" in fields:
            fields["id"] = rel(kind, fields["id"])
        for key, other in (("artifact_id", "a"), ("execution_id", "x"), ("context_id", "c")):
            if fields.get(key) is not None:
                fields[key] = rel(other, fields[key])
        return {k: (v.value if hasattr(v, "value") else v) for k, v in fields.items()}

    graph = store.lineage(model.id)
    down = store.lineage(data.id, "downstream", max_depth=1)
    return {
        "contexts": [
            plain(c, "c") for c in (store.get_context(pipeline.id), store.get_context(run.id))
        ],
        "parents": [plain(c, "c") for c in store.get_parent_contexts(run.id)],
        "children": [
            plain(c, "c")
            for c in store.list_contexts("conveyor.PipelineRun", parent_id=pipeline.id)
        ],
        "executions": [plain(x, "x") for x in store.list_executions(context_id=run.id)],
        "cached": plain(store.find_cached_execution(f"t-{tag}"), "x"),
        "artifacts": [plain(a, "a") for a in store.list_artifacts(context_id=run.id)],
        "events": [plain(e, "e") for e in store.get_events(artifact_ids=[data.id, model.id])],
        "lineage": [
            [plain(r, k) for r in rs]
            for k, rs in (("a", graph.artifacts), ("x", graph.executions), ("e", graph.events))
        ],
        "downstream": sorted(x.name for x in down.executions),
        "metrics": [plain(m, "m") for m in store.get_metrics(context_id=run.id)],
        "exec_contexts": [c.name for c in store.get_execution_contexts(train)],
    }


def test_every_way_of_building_the_database_reads_and_writes_the_same(
    new_uri: Callable[[], str],
) -> None:
    fresh, scripted, old = new_uri(), new_uri(), new_uri()
    _alembic(scripted, "head").dispose()  # Alembic scripts, base to head
    engine = _alembic(old, "0001")  # revision 0001, rows written by SQLAlchemy Core
    with engine.begin() as conn:
        conn.execute(
            sa.insert(models.types),
            [{"kind": "context", "name": "Old", "properties": {}, "created_at": datetime.now(UTC)}],
        )
    engine.dispose()
    snapshots = []
    for uri in (fresh, scripted, old):
        with connect(uri) as store:
            assert isinstance(store, SqlMetadataStore)
            snapshots.append(_scenario(store, "a"))
    assert snapshots[0] == snapshots[1] == snapshots[2]
    assert snapshots[0]["contexts"][1]["properties"] == {
        **PROPERTIES,
        "state": "COMPLETE",
        "nested": {"replaced": True},
    }


def test_rows_written_by_sqlalchemy_at_0001_read_back_exactly_after_the_upgrade(
    new_uri: Callable[[], str],
) -> None:
    uri = new_uri()
    stamp = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=timezone(timedelta(hours=2)))
    engine = _alembic(uri, "0001")
    with engine.begin() as conn:  # what the SQLAlchemy version of the store wrote
        type_id = conn.execute(
            sa.insert(models.types).returning(models.types.c.id),
            {"kind": "artifact", "name": "Model", "properties": {}, "created_at": stamp},
        ).scalar_one()
        artifact_id = conn.execute(
            sa.insert(models.artifacts).returning(models.artifacts.c.id),
            {
                "type_id": type_id,
                "uri": "/é",
                "name": "m",
                "state": "LIVE",
                "properties": PROPERTIES,
                "created_at": stamp,
                "updated_at": stamp,
            },
        ).scalar_one()
    engine.dispose()
    with connect(uri) as store:  # upgrades 0001 -> head
        artifact = store.get_artifact(artifact_id)
        assert artifact.properties == PROPERTIES
        assert artifact.created_at == stamp and artifact.created_at.tzinfo is UTC
        assert (artifact.type_name, artifact.uri) == ("Model", "/é")
        # and the store writes next to them
        _, [new] = store.record_execution(
            "T", "t", COMPLETE, outputs=[NewArtifact(key="m", type_name="Model", uri="/n")]
        )
        assert store.get_artifact(new.id).type_name == "Model"


def test_values_written_by_the_store_read_back_exactly_here_and_through_sqlalchemy(
    new_uri: Callable[[], str],
) -> None:
    uri = new_uri()
    with connect(uri) as store:
        before = datetime.now(UTC)
        run = store.put_context("conveyor.PipelineRun", "r", PROPERTIES)
        eid, [art] = store.record_execution(
            "T",
            "t",
            COMPLETE,
            contexts=[run.id],
            properties=PROPERTIES,
            outputs=[NewArtifact(key="m", type_name="Model", uri="/m", properties=PROPERTIES)],
        )
        execution = store.get_execution(eid)
        for record, written in (
            (store.get_context(run.id), run),
            (store.get_artifact(art.id), art),
        ):
            assert record == written  # the records the writes returned, exactly
        for record in (run, art, execution):
            assert record.properties == PROPERTIES
            assert record.created_at.tzinfo is UTC and before <= record.created_at <= datetime.now(
                UTC
            )
        [event] = store.get_events(execution_ids=[eid])
        assert event.created_at == execution.created_at
    engine = _sa.create_engine(_engine.parse_uri(uri))
    try:
        with engine.connect() as conn:  # SQLAlchemy's column types read the same values
            row = conn.execute(
                sa.select(models.executions).where(models.executions.c.id == eid)
            ).one()
            assert row.properties == PROPERTIES
            assert row.created_at == execution.created_at
            row = conn.execute(
                sa.select(models.contexts).where(models.contexts.c.id == run.id)
            ).one()
            assert (row.properties, row.updated_at) == (PROPERTIES, run.updated_at)
            if engine.dialect.name == "sqlite":  # the text SQLAlchemy's SQLite DateTime writes
                raw = conn.exec_driver_sql("SELECT created_at, properties FROM executions").one()
                assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", raw[0])
                assert json.loads(raw[1]) == PROPERTIES and "日本語" in raw[1]
    finally:
        engine.dispose()


_NO_SQLALCHEMY = """
import sys
from conveyor.metadata import ExecutionState, NewArtifact, connect

store = connect(sys.argv[1])
_, [a] = store.record_execution("T", "s0", ExecutionState.COMPLETE,
                                outputs=[NewArtifact(key="m", type_name="Model", uri="/a")])
_, [b] = store.record_execution("T", "s1", ExecutionState.COMPLETE, inputs=[("in", a.id)],
                                outputs=[NewArtifact(key="m", type_name="Model", uri="/b")])
assert [x.name for x in store.lineage(b.id).executions] == ["s0", "s1"]
store.close()
print(sorted(m for m in sys.modules if m.partition(".")[0] in ("sqlalchemy", "alembic")))
"""


@pytest.mark.parametrize("where", ["file", "memory"])
def test_a_sqlite_store_imports_neither_sqlalchemy_nor_alembic(tmp_path: Path, where: str) -> None:
    uri = f"sqlite:///{tmp_path / 'm.db'}" if where == "file" else "sqlite://"
    for _ in ("a new database", "an up-to-date one"):
        done = subprocess.run(
            [sys.executable, "-c", _NO_SQLALCHEMY, uri], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["[]"]
