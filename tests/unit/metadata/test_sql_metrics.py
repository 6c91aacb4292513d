"""The metrics table of the SQL store: migration 0001 -> 0002 and back, and batched writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from conveyor.metadata import ExecutionState, NewArtifact
from conveyor.metadata.entities import MetricRecord
from conveyor.metadata.sql import HEAD_REVISION, SqlMetadataStore, _engine, _migrate, _sa


def test_store_at_revision_0001_upgrades_to_metrics_keeping_its_data(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'old.db'}"
    engine = _sa.create_engine(_engine.parse_uri(uri))
    try:
        _migrate.migrate(engine, "0001")
        with engine.connect() as conn:
            assert _migrate.current_revision(_migrate._driver(conn)) == "0001"
            assert "metrics" not in sa.inspect(conn).get_table_names()
    finally:
        engine.dispose()
    with SqlMetadataStore(uri) as store:
        run = store.put_context("conveyor.PipelineRun", "r")
        eid, _ = store.record_execution(
            "T",
            "t",
            ExecutionState.COMPLETE,
            contexts=[run.id],
            outputs=[NewArtifact(key="m", type_name="Model", uri="mem://m")],
        )
        store.log_metrics([MetricRecord(run.id, eid, "loss", 0.25, 3, 10.0)])
        assert store.get_metrics(context_id=run.id)[0].value == 0.25
        with store._db.transaction(write=False) as conn:
            assert _migrate.current_revision(conn) == HEAD_REVISION


def test_downgrade_to_0001_drops_only_the_metrics_table(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'new.db'}"
    with SqlMetadataStore(uri) as store:
        run = store.put_context("conveyor.PipelineRun", "r")
        store.log_metrics([MetricRecord(run.id, None, "loss", 0.5, 0, 1.0)])
        engine = _sa.create_engine(_engine.parse_uri(uri))
        try:
            _migrate.migrate(engine, "0001", direction="downgrade")
            tables = set(sa.inspect(engine).get_table_names())
        finally:
            engine.dispose()
        assert "metrics" not in tables and "contexts" in tables
    with SqlMetadataStore(uri) as again:
        assert again.find_context("conveyor.PipelineRun", "r") is not None
        assert again.get_metrics(context_id=run.id) == []


def test_log_metrics_is_one_transaction_with_one_statement(tmp_path: Path) -> None:
    with SqlMetadataStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        run = store.put_context("conveyor.PipelineRun", "r")
        seen: list[str] = []
        store._db.close()
        store._db.connect_hooks.append(lambda raw: raw.set_trace_callback(seen.append))

        store.log_metrics([MetricRecord(run.id, None, "x", float(i), i, 0.0) for i in range(100)])
        inserts = [s for s in seen if s.startswith("INSERT INTO metrics")]
        assert len(inserts) == 100  # sqlite3's trace shows each row of one executemany
        assert sum(s.startswith("BEGIN") for s in seen) == 1
        assert sum(s == "COMMIT" for s in seen) == 1


def test_metric_values_and_run_properties_are_written_together() -> None:
    from conveyor.errors import NotFoundError
    from conveyor.metadata import connect

    store = connect("sqlite://")
    try:
        run = store.put_context(
            "conveyor.PipelineRun", "r", {"state": "RUNNING", "keep": {"a": 1}, "params": {"x": 1}}
        )
        loss = MetricRecord(run.id, None, "loss", 0.5, 0, 1.0)
        final = {"state": "COMPLETE", "params": {"y": 2}, "note": 'it\'s "quoted"'}
        store.log_metrics([loss], context_properties=(run.id, final))
        after = store.get_context(run.id)
        # top-level keys replace (params is not merged), the others stay
        assert after.properties == {"keep": {"a": 1}, **final}
        assert after.updated_at >= run.updated_at and after.updated_at.tzinfo is not None
        assert [m.value for m in store.get_metrics(context_id=run.id)] == [0.5]
        with pytest.raises(NotFoundError):
            store.log_metrics([loss], context_properties=(987_654, {"state": "X"}))
        assert len(store.get_metrics(context_id=run.id)) == 1  # nothing of that batch kept
    finally:
        store.close()
