"""The compare and metrics API of ``conveyor ui``: a real server over real stores (SQLite for
the project's runs; PostgreSQL for the series of a second server), two runs of a tracked
pipeline with different parameters, and a 100,000-point series with a known spike."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_support import UIServer, copy_pipelines, start_ui

from conveyor.metadata import connect
from conveyor.metadata.entities import MetricRecord
from conveyor.metadata.store import CONTEXT_RUN

SPIKE_STEP = 61_803
"""Where the long series jumps to 1000 (elsewhere it stays in [0, 1])."""
DIP_STEP = 27_182
"""Where it drops to -1000."""
LONG = 100_000
TRACKED = "tracked.py:tracked"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    project = tmp_path_factory.mktemp("compare") / "project"
    copy_pipelines(project)
    ui = start_ui(project)
    yield ui
    ui.stop()


def _run(server: UIServer, target: str, *args: str) -> str:
    done = server.conveyor("run", target, "--json", "-q", *args)
    return str(json.loads(done.stdout)["run_id"])


@pytest.fixture(scope="module")
def two_runs(server: UIServer) -> tuple[str, str]:
    return _run(server, TRACKED), _run(server, TRACKED, "--param", "epochs=7")


def long_series(store_url: str, run_id: str) -> None:
    """A run context holding ``noise`` (100,000 points, one spike, one dip) and ``short``."""
    store = connect(store_url)
    try:
        run = store.put_context(CONTEXT_RUN, run_id, {"state": "COMPLETE", "pipeline": "bench"})
        base = 1_700_000_000.0
        records = [
            MetricRecord(run.id, None, "noise", ((s * 7919) % 1000) / 1000, s, base + s / 100)
            for s in range(LONG)
        ]
        records[SPIKE_STEP] = MetricRecord(run.id, None, "noise", 1000.0, SPIKE_STEP, base)
        records[DIP_STEP] = MetricRecord(run.id, None, "noise", -1000.0, DIP_STEP, base + 1)
        records.reverse()  # inserted out of order: the API orders by step
        records += [MetricRecord(run.id, None, "short", float(s), s, base + s) for s in range(5)]
        store.log_metrics(records)
    finally:
        store.close()


def check_long_series(server: UIServer, run_id: str) -> None:
    data = server.api("/metrics/series", runs=run_id, name=["noise", "short"], max_points=500)
    assert data["x"] == "step" and data["max_points"] == 500
    series = data["runs"][0]["series"]
    noise = series["noise"]
    assert noise["count"] == LONG and (noise["min"], noise["max"]) == (-1000.0, 1000.0)
    assert 2 < len(noise["step"]) <= 500 and len(noise["value"]) == len(noise["step"])
    assert noise["step"] == sorted(noise["step"]), "points out of step order"
    assert noise["step"][0] == 0  # the lowest point of the first range
    kept = dict(zip(noise["step"], noise["value"], strict=True))
    assert kept[SPIKE_STEP] == 1000.0 and kept[DIP_STEP] == -1000.0, "the spike was lost"
    assert series["short"]["value"] == [0.0, 1.0, 2.0, 3.0, 4.0]  # under max_points: all kept
    assert series["short"]["time"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    # Server time of the 100,000-point series (the Server-Timing header): a loose bound here,
    # the real target (well under 300 ms) is checked by bench/ui.py.
    response = server.client.get(
        "/api/v1/metrics/series", params={"runs": run_id, "name": "noise", "max_points": 1000}
    )
    assert response.status_code == 200
    timing = response.headers["server-timing"]
    assert float(timing.split("dur=")[1].split(",")[0]) < 3000, timing

    by_time = server.api("/metrics/series", runs=run_id, name="noise", max_points=100, x="time")
    times = by_time["runs"][0]["series"]["noise"]["time"]
    assert times == sorted(times) and times[0] == 0.0 and len(times) <= 100


def test_series_downsampled_on_the_server_sqlite(server: UIServer) -> None:
    url = server.api("/info")["metadata_url"]
    run_id = f"long-{uuid.uuid4().hex[:8]}"
    long_series(url, run_id)
    check_long_series(server, run_id)


@pytest.mark.postgres
def test_series_downsampled_on_the_server_postgresql(pg_uri: str, tmp_path: Path) -> None:
    run_id = f"long-{uuid.uuid4().hex[:8]}"
    long_series(pg_uri, run_id)
    project = tmp_path / "pg"
    project.mkdir()
    ui = start_ui(project, env={"CONVEYOR_METADATA_URL": pg_uri})
    try:
        check_long_series(ui, run_id)
        summary = ui.api(f"/runs/{run_id}/metrics")["metrics"]
        assert [(m["name"], m["count"], m["last_step"]) for m in summary] == [
            ("noise", LONG, LONG - 1),
            ("short", 5, 4),
        ]
    finally:
        ui.stop()


def test_compare_two_runs_flags_what_differs(server: UIServer, two_runs: tuple[str, str]) -> None:
    first, second = two_runs
    data = server.api("/compare", runs=[first, second])
    assert data["runs"] == [first, second]
    assert [c["run_id"] for c in data["columns"]] == [first, second]
    assert all(c["pipeline"] == "tracked" and c["state"] == "COMPLETE" for c in data["columns"])
    rows = {(r["section"], r["name"]): r for r in data["rows"]}
    assert rows[("parameter", "epochs")]["values"] == [5, 7]
    assert rows[("parameter", "epochs")]["differs"] is True
    assert rows[("metric", "loss")]["values"] == [pytest.approx(1 / 5), pytest.approx(1 / 7)]
    assert rows[("metric", "accuracy")] == {
        "section": "metric", "name": "accuracy", "values": [0.9, 0.9], "differs": False,
    }  # fmt: skip
    assert rows[("run", "state")]["differs"] is False
    assert not rows[("run", "duration_seconds")]["differs"]  # wall time is never a change
    ir = rows[("run", "ir_digest")]
    assert ir["values"][0] and len(ir["values"][0]) == 12
    assert rows[("code", "fit")]["differs"] is False
    sections = [r["section"] for r in data["rows"]]
    order = ["run", "parameter", "metric", "data", "code"]
    assert sections == sorted(sections, key=order.index)
    assert data["differing_rows"] == sum(r["differs"] for r in data["rows"])

    only = server.api("/compare", runs=[first, second], only_differences="true")
    assert only["only_differences"] is True and only["rows"]
    assert all(r["differs"] for r in only["rows"])
    assert len(only["rows"]) == data["differing_rows"] < data["total_rows"]


def test_compare_shows_data_digests_of_inputs_and_outputs(server: UIServer) -> None:
    first = _run(server, "basic.py:demo")
    second = _run(server, "basic.py:demo", "--param", "C=2")
    rows = {r["name"]: r for r in server.api("/compare", runs=[first, second])["rows"]}
    assert rows["train.data"]["section"] == "data" and not rows["train.data"]["differs"]
    assert not rows["ingest.data (output)"]["differs"]  # the same text ingested
    assert rows["train.model (output)"]["differs"]  # C is written into the model
    assert len(rows["train.model (output)"]["values"][0]) == 12
    assert {n for n, r in rows.items() if r["section"] == "code"} == {"ingest", "prepare", "train"}


def test_the_cli_prints_what_it_printed(server: UIServer, two_runs: tuple[str, str]) -> None:
    """``conveyor runs compare --json`` is the API's rows without the added IR/output rows."""
    first, second = two_runs
    cli = json.loads(server.conveyor("runs", "compare", first, second, "--json").stdout)
    api = server.api("/compare", runs=[first, second])
    added = {("run", "ir_digest")} | {
        (r["section"], r["name"]) for r in api["rows"] if r["name"].endswith(" (output)")
    }
    assert cli["runs"] == api["runs"]
    assert cli["rows"] == [r for r in api["rows"] if (r["section"], r["name"]) not in added]
    table = server.conveyor("runs", "compare", first, second, "--only-diff").stdout
    assert "≠ epochs" in table and "≠ loss" in table and "rows differ" in table


def test_compare_bad_input_is_a_clear_error(server: UIServer, two_runs: tuple[str, str]) -> None:
    def error(path: str, params: Any, status: int = 400) -> dict[str, Any]:
        response = server.client.get(f"/api/v1{path}", params=params)
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()
        assert body["error"] and body["fix"], body
        return body

    assert "No run" in error("/compare", {})["error"]
    assert "no-such-run" in error("/compare", {"runs": [two_runs[0], "no-such-run"]}, 404)["error"]
    many = error("/compare", {"runs": [f"r{i}" for i in range(21)]})
    assert "at most 20" in many["error"]
    assert "21 runs" in many["error"]
    error("/metrics/series", {"runs": two_runs[0]})  # no name
    error("/metrics/series", {"runs": two_runs[0], "name": "loss", "max_points": 1})
    error("/metrics/series", {"runs": two_runs[0], "name": "loss", "max_points": 10**9})
    error("/metrics/series", {"runs": [f"r{i}" for i in range(21)], "name": "loss"})
    error("/metrics/series", {"runs": "nope", "name": "loss"}, 404)
    error("/runs/nope/metrics", {}, 404)
    error("/metrics/series", {"runs": two_runs[0], "name": "loss", "max_points": "many"})
    assert (
        "x=" in error("/metrics/series", {"runs": two_runs[0], "name": "loss", "x": "z"})["error"]
    )


def test_run_metrics_and_series_of_a_tracked_run(
    server: UIServer, two_runs: tuple[str, str]
) -> None:
    first, second = two_runs
    metrics = {m["name"]: m for m in server.api(f"/runs/{second}/metrics")["metrics"]}
    assert set(metrics) == {"loss", "accuracy", "auc"}
    loss = metrics["loss"]
    assert (loss["count"], loss["first_step"], loss["last_step"]) == (7, 0, 6)
    assert loss["last_value"] == pytest.approx(1 / 7) and loss["tasks"] == ["fit"]
    started = time.monotonic()
    data = server.api("/metrics/series", runs=[first, second], name="loss")
    assert time.monotonic() - started < 10
    got = {r["run_id"]: r["series"]["loss"] for r in data["runs"]}
    assert got[first]["step"] == list(range(5)) and got[second]["step"] == list(range(7))
    assert got[second]["value"][0] == 1.0 and got[second]["count"] == 7
