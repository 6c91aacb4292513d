"""Many processes writing one metadata store at once: nothing lost, no "database is locked"."""

from __future__ import annotations

import multiprocessing
import traceback
from pathlib import Path
from typing import Any

import pytest

from conveyor.metadata import CONTEXT_RUN, ExecutionState, NewArtifact, connect
from conveyor.metadata.sql import HEAD_REVISION, SqlMetadataStore

pytestmark = pytest.mark.integration

PROCESSES = 8
EXECUTIONS = 200


def _writer(uri: str, worker: int, count: int, barrier: Any, errors: Any) -> None:
    """Connect (maybe migrating a fresh database), then record ``count`` executions."""
    try:
        barrier.wait(60)  # start together, so the first connects and writes really overlap
        store = connect(uri)
        shared = store.put_context(CONTEXT_RUN, "shared")
        own = store.put_context(CONTEXT_RUN, f"worker-{worker}", parents=[shared.id])
        previous = None
        for step in range(count):
            _, [out] = store.record_execution(
                "Step",
                f"w{worker}-s{step}",
                ExecutionState.COMPLETE,
                contexts=[shared.id, own.id],
                inputs=[] if previous is None else [("in", previous)],
                outputs=[NewArtifact(key="out", type_name="Data", uri=f"mem://{worker}/{step}")],
                cache_key=f"w{worker}",
            )
            previous = out.id
        store.close()
    except BaseException:
        errors.put(f"worker {worker}: {traceback.format_exc()}")


def _run_writers(uri: str, count: int) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(PROCESSES)
    errors = ctx.SimpleQueue()
    procs = [
        ctx.Process(target=_writer, args=(uri, w, count, barrier, errors)) for w in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert not found, "\n".join(found)
    assert [p.exitcode for p in procs] == [0] * PROCESSES


def _check_all_recorded(uri: str, count: int) -> None:
    with SqlMetadataStore(uri) as store:
        shared = store.find_context(CONTEXT_RUN, "shared")
        assert shared is not None
        assert len(store.list_executions(context_id=shared.id)) == PROCESSES * count
        assert len(store.list_artifacts(context_id=shared.id)) == PROCESSES * count
        children = store.list_contexts(CONTEXT_RUN, parent_id=shared.id)
        assert len(children) == PROCESSES
        for worker in range(PROCESSES):
            last = store.find_cached_execution(f"w{worker}")
            assert last is not None and last.name == f"w{worker}-s{count - 1}"
            [out] = [e for e in store.get_events(execution_ids=[last.id]) if e.type.is_output]
            assert len(store.lineage(out.artifact_id).executions) == count


def test_sqlite_file_concurrent_writers_record_everything(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'metadata.db'}"
    connect(uri).close()  # migrated up front: this test is about the writes
    _run_writers(uri, EXECUTIONS)
    _check_all_recorded(uri, EXECUTIONS)


def test_sqlite_fresh_file_concurrent_first_connect_migrates_once(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'new' / 'metadata.db'}"
    _run_writers(uri, 5)
    _check_all_recorded(uri, 5)
    store = SqlMetadataStore(uri)
    with store._db.transaction(write=False) as conn:
        versions = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    store.close()
    assert versions == [(HEAD_REVISION,)]


@pytest.mark.postgres
def test_postgres_concurrent_writers_record_everything(pg_uri: str) -> None:
    # pg_uri's schema is shared by the session: use a schema of our own, created by the race.
    uri = pg_uri.replace("?schema=", "?schema=conc_")
    _run_writers(uri, EXECUTIONS)
    _check_all_recorded(uri, EXECUTIONS)
    _drop_schema(uri)


def _drop_schema(uri: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    base, _, schema = uri.partition("?schema=")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
