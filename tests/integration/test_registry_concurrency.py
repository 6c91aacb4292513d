"""Two processes moving one alias at once: every move is recorded, and the history is one
unbroken chain (each move starts where the previous one ended) ending at the alias's value."""

from __future__ import annotations

import itertools
import multiprocessing
import traceback
from pathlib import Path
from typing import Any

import pytest

from conveyor.metadata import connect
from conveyor.metadata.sql import SqlMetadataStore
from conveyor.testing.registry import bless, model_artifact

pytestmark = pytest.mark.integration

MOVES = 40


def _mover(uri: str, worker: int, barrier: Any, errors: Any) -> None:
    try:
        store = connect(uri)
        assert isinstance(store, SqlMetadataStore)
        barrier.wait(60)
        for step in range(MOVES):
            store.set_alias("census", "champion", 1 + (worker + step) % 3, actor=f"w{worker}")
        store.close()
    except BaseException:
        errors.put(f"worker {worker}: {traceback.format_exc()}")


@pytest.fixture(params=["sqlite-file", pytest.param("postgresql", marks=pytest.mark.postgres)])
def uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite-file":
        return f"sqlite:///{tmp_path / 'metadata.db'}"
    return str(request.getfixturevalue("pg_uri"))


def test_concurrent_alias_moves_leave_one_consistent_history(uri: str) -> None:
    with SqlMetadataStore(uri) as store:
        store.register_model("census")
        for key in "abc":
            model_id = model_artifact(store, "census", key)
            bless(store, model_id)
            store.create_model_version("census", model_id)
    ctx = multiprocessing.get_context("fork")
    barrier, errors = ctx.Barrier(2), ctx.SimpleQueue()
    procs = [ctx.Process(target=_mover, args=(uri, w, barrier, errors)) for w in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert not found, "\n".join(found)
    assert [p.exitcode for p in procs] == [0, 0]
    with SqlMetadataStore(uri) as store:
        history = store.alias_history("census", "champion")
        assert len(history) == 2 * MOVES
        assert history[0].from_version is None
        for before, after in itertools.pairwise(history):
            assert after.from_version == before.to_version, (before, after)
            assert after.changed_at >= before.changed_at
        assert {c.actor for c in history} == {"w0", "w1"}
        assert store.resolve_model("census@champion").version == history[-1].to_version
        last = history[-1]
        assert store.alias_at("census", "champion", last.changed_at).version == last.to_version  # type: ignore[union-attr]
