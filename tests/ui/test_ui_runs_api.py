"""``GET /api/v1/runs`` and ``/api/v1/experiments`` against a real server over runs made by
``conveyor run`` (one server and one set of runs for the module)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ui_support import UIServer, copy_pipelines, start_ui

from conveyor.metadata import CONTEXT_RUN, connect


@pytest.fixture(scope="module")
def runs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    """A server over four runs: demo with C=0.5 and C=2 (experiment ex-a), tracked (ex-b),
    branches (fails, no experiment); and a fifth demo run, archived."""
    project = tmp_path_factory.mktemp("runs") / "project"
    copy_pipelines(project)
    server = start_ui(project)
    try:
        run = server.conveyor
        run("run", "basic.py:demo", "--param", "C=0.5", "--experiment", "ex-a", "--run-id", "r1")
        run("run", "basic.py:demo", "--param", "C=2", "--experiment", "ex-a", "--run-id", "r2")
        run("run", "tracked.py", "--param", "epochs=3", "--experiment", "ex-b", "--run-id", "r3")
        run("run", "basic.py:branches", "--run-id", "r4", check=False)
        run("run", "basic.py:demo", "--param", "C=9", "--run-id", "r5-old")
        store = connect(server.api("/info")["metadata_url"])
        try:
            old = store.find_context(CONTEXT_RUN, "r5-old")
            assert old is not None
            store.update_context(old.id, {"lifecycle": "archived"})
        finally:
            store.close()
        yield server
    finally:
        server.stop()


def _ids(server: UIServer, **params: Any) -> list[str]:
    return [r["run_id"] for r in server.api("/runs", **params)["runs"]]


def test_runs_are_listed_newest_first_with_their_summary(runs_server: UIServer) -> None:
    page = runs_server.api("/runs")
    assert [r["run_id"] for r in page["runs"]] == ["r4", "r3", "r2", "r1"]
    assert (page["total"], page["limit"], page["offset"], page["sort"]) == (4, 50, 0, "-started_at")
    r1 = page["runs"][3]
    assert r1["pipeline"] == "demo" and r1["experiment"] == "ex-a"
    assert r1["state"] == "COMPLETE" and r1["lifecycle"] is None
    assert r1["parameters"]["C"] == 0.5 and r1["tasks"] == 3
    assert sum(r1["task_states"].values()) == 3
    assert r1["finished_at"] >= r1["started_at"] and r1["duration_seconds"] > 0
    assert r1["ir_digest"].startswith("sha256:")
    # the final metrics: a Metrics artifact's values as TASK.OUTPUT.NAME, logged curves' last
    assert r1["metrics"] == {"train.metrics.score": 0.5 * len("hello world")}
    r3 = page["runs"][1]
    assert r3["metrics"] == {"loss": pytest.approx(1 / 3), "accuracy": 0.9, "auc": 0.8}
    assert page["runs"][0]["state"] == "FAILED"
    assert page["columns"]["parameters"] == ["C", "epochs", "fail", "text"]
    assert page["columns"]["metrics"] == ["accuracy", "auc", "loss", "train.metrics.score"]


def test_runs_filters_combine(runs_server: UIServer) -> None:
    assert _ids(runs_server, pipeline="demo") == ["r2", "r1"]
    assert _ids(runs_server, experiment="ex-a", param="C>=1") == ["r2"]
    assert _ids(runs_server, state=["FAILED", "running"]) == ["r4"]
    assert _ids(runs_server, metric=["auc>0.5", "loss<0.5"]) == ["r3"]
    assert _ids(runs_server, metric="train.metrics.score>6") == ["r2"]
    assert _ids(runs_server, q="R1") == ["r1"]
    assert _ids(runs_server, lifecycle="archived") == ["r5-old"]
    assert _ids(runs_server, lifecycle="all", pipeline="demo") == ["r5-old", "r2", "r1"]
    first = runs_server.api("/runs", sort="started_at")["runs"][0]
    assert _ids(runs_server, since=str(first["started_at"] + 0.000001)) == ["r4", "r3", "r2"]
    assert _ids(runs_server, until="2000-01-01T00:00:00Z") == []
    assert _ids(runs_server, since="2000-01-01") == ["r4", "r3", "r2", "r1"]


def test_runs_sort_and_page(runs_server: UIServer) -> None:
    assert _ids(runs_server, sort="param:C") == ["r1", "r2", "r3", "r4"]  # no C: last
    assert _ids(runs_server, sort="-metric:train.metrics.score") == [
        "r2",
        "r1",
        "r4",
        "r3",
    ]  # ties: by id, descending too
    assert _ids(runs_server, sort="run_id") == ["r1", "r2", "r3", "r4"]
    pages = [runs_server.api("/runs", sort="run_id", limit=3, offset=o) for o in (0, 3, 6)]
    assert [[r["run_id"] for r in p["runs"]] for p in pages] == [["r1", "r2", "r3"], ["r4"], []]
    assert {p["total"] for p in pages} == {4}


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"param": "C=>1"}, "operator"),
        ({"param": "C"}, "NAME OP VALUE"),
        ({"metric": 'auc"]>1'}, "not allowed"),
        ({"metric": "auc>=nan"}, "finite"),
        ({"sort": "colour"}, "Cannot sort"),
        ({"sort": "param:$.x"}, "not allowed"),
        ({"state": "DONE"}, "Unknown run state"),
        ({"lifecycle": "gone"}, "Unknown lifecycle"),
        ({"since": "yesterday"}, "ISO 8601"),
    ],
)
def test_a_bad_filter_is_a_400_with_a_fix(
    runs_server: UIServer, params: dict[str, str], words: str
) -> None:
    response = runs_server.client.get("/api/v1/runs", params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert words in body["error"] and body["fix"]


def test_a_bad_page_is_refused_with_a_fix(runs_server: UIServer) -> None:
    for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}):
        response = runs_server.client.get("/api/v1/runs", params=params)
        assert response.status_code == 400 and "limit from 1 to 500" in response.json()["fix"]


def test_experiments_count_their_runs_by_state(runs_server: UIServer) -> None:
    body = runs_server.api("/experiments")
    rows = {e["name"]: e for e in body["experiments"]}
    assert [e["name"] for e in body["experiments"]] == ["ex-b", "ex-a"]  # newest run first
    assert rows["ex-a"]["runs"] == 2 and rows["ex-a"]["states"] == {"COMPLETE": 2}
    assert rows["ex-a"]["pipelines"] == ["demo"]
    assert rows["ex-b"]["pipelines"] == ["tracked"] and rows["ex-b"]["last_started_at"] > 0
    assert body["runs_without_experiment"] == 1  # r4 (r5-old is archived)
    every = runs_server.api("/experiments", lifecycle="all")
    assert every["runs_without_experiment"] == 2
    bad = runs_server.client.get("/api/v1/experiments", params={"lifecycle": "x"})
    assert bad.status_code == 400 and bad.json()["fix"]


def test_the_openapi_spec_describes_the_run_list(runs_server: UIServer) -> None:
    spec = runs_server.api("/openapi.json")
    schemas = spec["components"]["schemas"]
    assert {"RunList", "RunRow", "ExperimentList", "ApiError"} <= set(schemas)
    assert "metrics" in schemas["RunRow"]["properties"]
    params = {p["name"] for p in spec["paths"]["/api/v1/runs"]["get"]["parameters"]}
    assert {"pipeline", "state", "param", "metric", "sort", "limit", "offset"} <= params
