"""The runs search keeps a result while the runs are unchanged: a kept answer must be exactly
the answer a fresh search gives, through any sequence of writes (by this store or another)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from conveyor.metadata import CONTEXT_RUN, connect
from conveyor.metadata.runs import RunQuery, parse_predicate, parse_sort

QUERIES = [
    RunQuery(),
    RunQuery(states=("RUNNING",)),
    RunQuery(lifecycle="all", sort=parse_sort("-metric:auc"), limit=7),
    RunQuery(parameters=(parse_predicate("lr>=0.5"),), sort=parse_sort("param:lr")),
    RunQuery(metrics=(parse_predicate("auc<0.5"),), offset=3, limit=5),
    RunQuery(lifecycle="archived"),
]


def _answer(store, query: RunQuery) -> tuple:
    page = store.search_runs(query)
    return page.total, [(r.name, r.properties) for r in page.runs]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kept_answers_equal_fresh_ones_through_every_write(backend, tmp_path: Path, request):
    url = f"sqlite:///{tmp_path}/m.db" if backend == "sqlite" else request.getfixturevalue("pg_uri")
    warm, writer = connect(url), connect(url)
    rng = random.Random(7)
    try:
        ids = [
            writer.put_context(
                CONTEXT_RUN, f"run-{i}",
                {"pipeline": "p", "state": "COMPLETE", "started_at": float(i),
                 "parameters": {"lr": i / 30}, "metrics": {"auc": rng.random()}},
            ).id
            for i in range(30)
        ]  # fmt: skip
        for step in range(40):
            for query in QUERIES:
                kept = _answer(warm, query)
                assert _answer(warm, query) == kept  # asked twice: the second one is kept
                fresh_store = connect(url)  # a new store keeps nothing
                try:
                    assert kept == _answer(fresh_store, query), (step, query)
                finally:
                    fresh_store.close()
            # one write, by this store or another, between rounds
            target = rng.choice(ids)
            change = rng.choice(
                [
                    {"state": rng.choice(["RUNNING", "FAILED", "COMPLETE"])},
                    {"lifecycle": rng.choice(["archived", None])},
                    {"metrics": {"auc": rng.random()}},
                    {"parameters": {"lr": rng.random()}},
                ]
            )
            rng.choice([warm, writer]).update_context(target, change)
    finally:
        warm.close()
        writer.close()
