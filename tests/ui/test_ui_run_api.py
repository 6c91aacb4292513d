"""The run page's and pipelines page's API against a real ``conveyor ui`` over real runs:
run detail, graph, step logs (and their path guard), pipelines and versions."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_support import UIServer, copy_pipelines, start_ui

from conveyor.metadata import CONTEXT_RUN, ExecutionState, NewArtifact, connect
from conveyor.ui.context import UIConfig, UIContext
from conveyor.ui.routes.run_detail import get_run

HERE = Path(__file__).parent


def _run(server: UIServer, *args: str) -> str:
    done = server.conveyor("run", "--json", "-q", *args)
    return str(json.loads(done.stdout)["run_id"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UIServer, dict[str, str]]]:
    """One server over four runs: naps (logs), hundred (100 steps), thousand (1,000
    instances, in process), and a failing one."""
    project = tmp_path_factory.mktemp("run-api") / "project"
    copy_pipelines(project)
    shutil.copy(HERE / "pipelines" / "ui_pipelines.py", project / "ui_pipelines.py")
    server = start_ui(project)
    try:
        ids = {
            "naps": _run(server, "ui_pipelines.py:naps", "-p", "seconds=0.1"),
            "hundred": _run(server, "ui_pipelines.py:hundred"),
            "thousand": _run(server, "--in-process", "ui_pipelines.py:thousand"),
        }
        failed = server.conveyor("run", "--json", "-q", "basic.py:bad_raises", check=False)
        ids["failed"] = json.loads(failed.stdout)["run_id"]
        yield server, ids
    finally:
        server.stop()


def test_run_detail_shows_the_run_and_every_task_with_inputs_and_outputs(runs: Any):
    server, ids = runs
    detail = server.api(f"/runs/{ids['naps']}")
    run = detail["run"]
    assert run["id"] == ids["naps"] and run["state"] == "COMPLETE"
    assert run["pipeline"] == "naps" and run["parameters"] == {"seconds": 0.1}
    assert run["ir_digest"].startswith("sha256:") and run["lifecycle"] == "active"
    assert run["source"]["target"] == "ui_pipelines.py:naps"
    assert run["finished_at"] >= run["started_at"] and run["host"]
    tasks = {t["name"]: t for t in detail["tasks"]}
    assert set(tasks) == {"nap", "nap-2", "nap-3", "nap-4"}
    assert tasks["nap-4"]["label"] == "side" and tasks["nap"]["label"] == "nap"
    second = tasks["nap-2"]
    assert second["state"] == "COMPLETE" and second["latest"]
    assert second["cache"]["decision"] == "ran"
    assert second["cache"]["reason"] and second["cache"]["key"].startswith("sha256:")
    assert second["parameters"] == {"seconds": 0.1, "x": 1, "label": "nap"}
    assert second["values"] == {"Output": 2}
    assert second["duration_seconds"] >= 0.1 and second["attempts"][0]["attempt"] == 1
    # the same run again: every step reused, and said so
    again = server.api(f"/runs/{_run(server, 'ui_pipelines.py:naps', '-p', 'seconds=0.1')}")
    assert {t["cache"]["decision"] for t in again["tasks"]} == {"CACHED"}


def test_run_detail_has_artifacts_and_errors(runs: Any):
    server, ids = runs
    thousand = server.api(f"/runs/{ids['thousand']}")
    assert len(thousand["tasks"]) == 1002
    failed = server.api(f"/runs/{ids['failed']}")
    assert failed["run"]["state"] == "FAILED" and failed["run"]["failed_tasks"] == ["raises"]
    (task,) = failed["tasks"]
    assert task["error"]["type"] == "RuntimeError"
    assert "boom in user code" in task["error"]["message"]
    assert "Traceback" in task["error"]["traceback"]
    demo = _run(server, "basic.py:demo")
    tasks = {t["name"]: t for t in server.api(f"/runs/{demo}")["tasks"]}
    (out,) = tasks["ingest"]["outputs"]
    assert out["key"] == "data" and out["type"].startswith("conveyor.Dataset")
    assert out["size_bytes"] == len("hello world") and out["digest"].startswith("sha256:")
    assert out["uri"].endswith("/data")
    (inp,) = tasks["prepare"]["inputs"]
    assert inp["artifact_id"] == out["artifact_id"] and inp["key"] == "data"


def test_an_unknown_run_is_a_clear_404(runs: Any):
    server, _ = runs
    for path in ("/api/v1/runs/nope", "/api/v1/runs/nope/graph", "/api/v1/runs/nope/logs/1"):
        response = server.client.get(path)
        assert response.status_code == 404, path
        body = response.json()
        assert "nope" in body["error"] and body["fix"]


class _Counting:
    """A metadata store that notes each method called (each is one query or a few)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, list[str]()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return attr(*args, **kwargs)

        return counted


def test_run_detail_reads_the_same_few_things_whatever_the_number_of_tasks(runs: Any):
    server, ids = runs
    store = connect(f"sqlite:///{server.project / '.conveyor' / 'metadata.db'}")
    try:
        counting = _Counting(store)
        home = str(server.project / ".conveyor")
        ctx = UIContext(UIConfig(store.uri, home, home), counting, None, {})  # type: ignore[arg-type]
        calls = {}
        for name in ("naps", "hundred", "thousand"):
            counting.calls.clear()
            detail = get_run(ids[name], ctx)
            assert detail["run"]["id"] == ids[name]
            calls[name] = list(counting.calls)
        assert len(detail["tasks"]) == 1002
        assert calls["naps"] == calls["hundred"] == calls["thousand"]
        assert len(calls["thousand"]) <= 6, calls
    finally:
        store.close()


def test_the_run_graph_collapses_the_parallel_for_and_opens_it(runs: Any):
    server, ids = runs
    graph = server.api(f"/runs/{ids['thousand']}/graph")
    assert len(graph["nodes"]) == 3
    group = next(n for n in graph["nodes"] if n["kind"] == "group")
    assert group["sublabel"] == "1000 instances: 1000 ✓" and group["state"] == "COMPLETE"
    opened = server.api(f"/runs/{ids['thousand']}/graph", expand=group["group"], limit=50)
    assert len(opened["nodes"]) == 2 + 50 + 1
    assert any(n["label"] == "+950 more" for n in opened["nodes"])
    bad = server.client.get(f"/api/v1/runs/{ids['thousand']}/graph", params={"expand": "x"})
    assert bad.status_code == 400 and "parallel-for" in bad.json()["fix"]
    hundred = server.api(f"/runs/{ids['hundred']}/graph")
    assert len(hundred["nodes"]) == 100 and len(hundred["edges"]) == 180
    assert {n["state"] for n in hundred["nodes"]} == {"COMPLETE"}


def test_a_step_log_is_read_in_slices(runs: Any):
    server, ids = runs
    task = next(t for t in server.api(f"/runs/{ids['naps']}")["tasks"] if t["name"] == "nap")
    path = f"/runs/{ids['naps']}/logs/{task['execution_id']}"
    whole = server.api(path)
    assert "nap 0: tick 3" in whole["text"] and whole["complete"]
    assert whole["offset"] == whole["size"] == len(whole["text"].encode())
    head = server.api(path, limit=10)
    assert head["text"] == whole["text"][:10] and head["offset"] == 10
    assert not head["complete"]
    rest = server.api(path, offset=10)
    assert head["text"] + rest["text"] == whole["text"] and rest["complete"]
    other = server.client.get(f"/api/v1/runs/{ids['hundred']}/logs/{task['execution_id']}")
    assert other.status_code == 404  # an execution of another run


def test_a_log_path_outside_the_logs_folder_is_refused(runs: Any):
    server, ids = runs
    store = connect(f"sqlite:///{server.project / '.conveyor' / 'metadata.db'}")
    try:
        run = store.find_context(CONTEXT_RUN, ids["failed"])
        assert run is not None
        (execution,) = store.list_executions(context_id=run.id)
        logs = server.project / ".conveyor" / "logs"
        link = logs / "escape.log"
        os.symlink("/etc/passwd", link)
        for tampered in ("/etc/passwd", f"{logs}/../../../../../../etc/passwd", str(link)):
            store.update_execution(execution.id, properties={"log_path": tampered})
            response = server.client.get(f"/api/v1/runs/{ids['failed']}/logs/{execution.id}")
            assert response.status_code == 403, tampered
            assert "root:" not in response.text
            assert "logs folder" in response.json()["error"]
    finally:
        store.close()


def test_pipelines_list_their_versions_runs_and_ir(runs: Any):
    server, ids = runs
    listed = {p["name"]: p for p in server.api("/pipelines")["pipelines"]}
    assert {"naps", "hundred", "thousand", "single-raises"} <= set(listed)
    naps = listed["naps"]
    # other tests of the module may have run naps again (on this worker or not)
    assert naps["runs"] == server.api("/runs", pipeline="naps")["total"] >= 1
    assert naps["versions"] == 1
    assert naps["last_run"]["state"] == "COMPLETE"
    digest = naps["latest_version"]["digest"]
    assert digest == server.api(f"/runs/{ids['naps']}")["run"]["ir_digest"]
    detail = server.api("/pipelines/naps")
    assert [(v["digest"], v["runs"]) for v in detail["versions"]] == [(digest, naps["runs"])]
    assert detail["description"].startswith("first -> second")
    version = server.api(f"/pipelines/naps/versions/{digest}")
    assert version["parameters"]["seconds"]["default"] == 1.5
    assert set(version["components"]) == {"nap"}
    assert {n["id"] for n in version["graph"]["nodes"]} == {"nap", "nap-2", "nap-3", "nap-4"}
    assert {n["label"] for n in version["graph"]["nodes"]} >= {"side"}
    thousand = listed["thousand"]["latest_version"]["digest"]
    graph = server.api(f"/pipelines/thousand/versions/{thousand}")["graph"]
    assert [n["kind"] for n in graph["nodes"]].count("group") == 1
    for bad, status in (("/pipelines/nope", 404), ("/pipelines/naps/versions/sha256:00", 400)):
        response = server.client.get(f"/api/v1{bad}")
        assert response.status_code == status and response.json()["fix"], bad
    missing = server.client.get(f"/api/v1/pipelines/naps/versions/sha256:{'0' * 64}")
    assert missing.status_code == 404


@pytest.mark.postgres
def test_run_detail_graph_and_pipelines_on_postgresql(
    pg_uri: str, tmp_path_factory: pytest.TempPathFactory
):
    project = tmp_path_factory.mktemp("run-api-pg") / "project"
    project.mkdir()
    shutil.copy(HERE / "pipelines" / "ui_pipelines.py", project / "ui_pipelines.py")
    uri = pg_uri.replace("?schema=", "?schema=runpage_")
    server = start_ui(project, env={"CONVEYOR_METADATA_URL": uri})
    try:
        assert server.api("/info")["metadata_url"].startswith("postgresql://")
        run_id = _run(server, "ui_pipelines.py:thousand", "-p", "n=5")
        detail = server.api(f"/runs/{run_id}")
        assert detail["run"]["state"] == "COMPLETE" and len(detail["tasks"]) == 7
        graph = server.api(f"/runs/{run_id}/graph")
        group = next(n for n in graph["nodes"] if n["kind"] == "group")
        assert group["sublabel"] == "5 instances: 5 ✓"
        (summary,) = server.api("/pipelines")["pipelines"]
        assert (summary["name"], summary["runs"], summary["versions"]) == ("thousand", 1, 1)
        digest = summary["latest_version"]["digest"]
        assert server.api("/pipelines/thousand")["versions"][0]["runs"] == 1
        version = server.api(f"/pipelines/thousand/versions/{digest}")
        assert version["parameters"]["n"]["default"] == 1000
    finally:
        server.stop()


def test_a_log_slice_never_ends_inside_a_character():
    from conveyor.ui.routes.run_detail import _whole_characters

    text = "ok ✓ é 🙂".encode()
    for end in range(len(text) + 1):
        kept = text[: _whole_characters(text[:end])]
        kept.decode("utf-8")  # never a cut character
        assert end - len(kept) < 4
    assert _whole_characters(b"abc") == 3
    assert _whole_characters("✓".encode()[:2]) == 0


def test_a_run_without_its_ir_is_drawn_from_its_executions(runs: Any):
    server, _ = runs
    store = connect(f"sqlite:///{server.project / '.conveyor' / 'metadata.db'}")
    try:
        run = store.put_context(CONTEXT_RUN, "legacy-run", {"state": "COMPLETE"})
        done = ExecutionState.COMPLETE
        _, (data,) = store.record_execution(
            "load", "load", done, contexts=[run.id],
            outputs=[NewArtifact(key="out", type_name="t", uri="/nowhere/out")],
        )  # fmt: skip
        store.record_execution("fit", "fit", done, contexts=[run.id], inputs=[("in", data.id)])
    finally:
        store.close()
    graph = server.api("/runs/legacy-run/graph")
    assert {(n["id"], n["state"]) for n in graph["nodes"]} == {
        ("load", "COMPLETE"),
        ("fit", "COMPLETE"),
    }
    assert graph["edges"] == [{"source": "load", "target": "fit"}]
    assert [t["name"] for t in server.api("/runs/legacy-run")["tasks"]] == ["load", "fit"]
