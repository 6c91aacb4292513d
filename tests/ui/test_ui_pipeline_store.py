"""The pipelines page's SQL summaries (conveyor.metadata.sql.pipelines) on SQLite and
PostgreSQL: counts of versions and runs, the newest run and version, in a few queries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.metadata import CONTEXT_PIPELINE, CONTEXT_PIPELINE_VERSION, CONTEXT_RUN
from conveyor.metadata.sql import SqlMetadataStore
from conveyor.metadata.sql.pipelines import pipeline_summaries, version_run_counts


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlMetadataStore]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'metadata.db'}"
    else:
        uri = str(request.getfixturevalue("pg_uri")).replace("?schema=", "?schema=pipes_")
    s = SqlMetadataStore(uri)
    yield s
    s.close()


def test_pipeline_summaries_count_versions_and_runs(store: SqlMetadataStore):
    assert pipeline_summaries(store) == []
    train = store.put_context(CONTEXT_PIPELINE, "train")
    store.put_context(CONTEXT_PIPELINE, "idle")
    versions = [
        store.put_context(CONTEXT_PIPELINE_VERSION, f"train@sha256:{c * 64}", {"ir": {}},
                          parents=[train.id])
        for c in "ab"
    ]  # fmt: skip
    for i in range(5):
        store.put_context(
            CONTEXT_RUN, f"train-{i}", {"state": "FAILED" if i == 4 else "COMPLETE"},
            parents=[train.id, versions[0 if i < 3 else 1].id],
        )  # fmt: skip
    by_name = {p["name"]: p for p in pipeline_summaries(store)}
    assert list(by_name) == ["idle", "train"]
    assert (by_name["idle"]["runs"], by_name["idle"]["versions"]) == (0, 0)
    assert by_name["idle"]["last_run"] is None and by_name["idle"]["latest_version"] is None
    summary = by_name["train"]
    assert (summary["runs"], summary["versions"]) == (5, 2)
    assert summary["last_run"]["id"] == "train-4" and summary["last_run"]["state"] == "FAILED"
    assert summary["latest_version"]["digest"] == f"sha256:{'b' * 64}"
    counts = version_run_counts(store, [v.id for v in versions])
    assert counts == {versions[0].id: 3, versions[1].id: 2}
    assert version_run_counts(store, []) == {}
