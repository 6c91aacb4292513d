"""The artifact, lineage and models API on a real server over a real run (statistics, schema,
anomalies, a model, its evaluation and card, a registered version), on SQLite and PostgreSQL;
the artifact files served only from under the artifact root (path traversal refused)."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from artifact_support import MODEL, Gate, own_schema, start_gate

from conveyor.metadata import ExecutionState, NewArtifact, connect

CARD_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def gate(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gate]:
    base = tmp_path_factory.mktemp(f"gate-{request.param}")
    if request.param == "sqlite":
        started = start_gate(base)
        yield started
        started.server.stop()
        return
    with own_schema(request.getfixturevalue("pg_uri")) as url:
        started = start_gate(base, url)
        yield started
        started.server.stop()


def refused(gate: Gate, route: str, status: int, **params: Any) -> dict[str, Any]:
    response = gate.server.client.get(f"/api/v1{route}", params=params)
    assert response.status_code == status, (route, params, response.status_code, response.text)
    body: dict[str, Any] = response.json()
    assert body["error"] and body.get("fix", "x"), body
    return body


def test_artifact_record_names_producer_consumers_and_view(gate: Gate) -> None:
    stats = gate.one("ExampleStatistics")
    art = gate.server.api(f"/artifacts/{stats}")
    assert art["id"] == stats and art["type"].startswith("conveyor.ExampleStatistics@")
    assert art["view"] == "statistics" and art["state"] == "LIVE"
    assert art["digest"].startswith("sha256:") and art["size"] > 0
    assert art["producer"]["task"] == "statistics_gen" and art["producer"]["run"] == gate.run_id
    consumers = {c["task"]: c["input"] for c in art["consumers"]}
    assert consumers == {"schema_gen": "statistics"}
    kinds = {t: gate.server.api(f"/artifacts/{ids[0]}")["view"] for t, ids in gate.ids.items()}
    assert kinds["conveyor.ModelCard"] == "model_card"
    assert kinds["conveyor.ModelEvaluation"] == "evaluation"
    assert kinds["conveyor.Examples"] == "examples" and kinds["conveyor.Model"] == "model"
    refused(gate, "/artifacts/999999", 404)


def test_statistics_view_and_baseline(gate: Gate) -> None:
    train_stats, drift_stats = gate.ids["conveyor.ExampleStatistics"]
    view = gate.server.api(f"/artifacts/{drift_stats}/view")
    assert view["kind"] == "statistics" and "baseline" not in view
    splits = {d["split"]: d for d in view["datasets"]}
    assert set(splits) == {"train", "eval"}
    features = {f["name"]: f for f in splits["train"]["features"]}
    mass = features["body_mass_g"]
    assert mass["numeric"]["min"] <= mass["numeric"]["median"] <= mass["numeric"]["max"]
    assert round(sum(b[2] for b in mass["histogram"])) == mass["count"]
    island = dict(features["island"]["top_values"])
    assert "Atlantis" in island and features["island"]["unique"] == 4
    assert [b["id"] for b in view["baselines"]] == [train_stats]

    both = gate.server.api(f"/artifacts/{drift_stats}/view", baseline=train_stats)
    base = {d["split"]: d for d in both["baseline"]["datasets"]}
    assert both["baseline"]["artifact"] == train_stats
    base_island = next(f for f in base["train"]["features"] if f["name"] == "island")
    assert "Atlantis" not in dict(base_island["top_values"])
    refused(gate, f"/artifacts/{drift_stats}/view", 400, baseline=gate.one("Schema"))
    refused(gate, f"/artifacts/{gate.one('Schema')}/view", 400, baseline=train_stats)
    refused(gate, f"/artifacts/{drift_stats}/view", 404, baseline=999999)


def test_schema_and_anomalies(gate: Gate) -> None:
    schema = gate.server.api(f"/artifacts/{gate.one('Schema')}/view")
    features = {f["name"]: f for f in schema["features"]}
    assert features["island"]["values"] == ["Biscoe", "Dream", "Torgersen"]
    assert features["species"]["type"] == "STRING" and 0 < features["sex"]["presence"] <= 1

    view = gate.server.api(f"/artifacts/{gate.one('ExampleAnomalies')}/view")
    by_feature = {a["feature"]: a for a in view["anomalies"]}
    assert set(by_feature) == {"island", "sex"}
    assert by_feature["island"]["severity"] == "ERROR" and by_feature["island"]["highlighted"]
    assert "Atlantis" in by_feature["island"]["description"]
    hit = {f["name"] for f in view["schema"] if f["anomalous"]}
    assert hit == {"island", "sex"}


def test_evaluation_view(gate: Gate) -> None:
    view = gate.server.api(f"/artifacts/{gate.one('ModelEvaluation')}/view")
    slices = {s["slice"]: s for s in view["slices"]}
    assert view["slices"][0]["slice"] == "overall" and any(k.startswith("island") for k in slices)
    overall = slices["overall"]
    low, high = overall["intervals"]["accuracy"]
    assert low <= overall["metrics"]["accuracy"] <= high
    assert view["thresholds"][0]["metric"] == "accuracy"
    assert view["blessing"]["blessed"] is True and view["bootstrap"]["resamples"] == 30


def test_model_card_page_has_its_own_policy(gate: Gate) -> None:
    card = gate.one("ModelCard")
    view = gate.server.api(f"/artifacts/{card}/view")
    assert view["card_url"] == f"/api/v1/artifacts/{card}/card.html"
    response = gate.server.client.get(view["card_url"])
    assert response.status_code == 200 and "Penguin species" in response.text
    assert response.headers["content-security-policy"] == CARD_CSP
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert response.headers["content-type"].startswith("text/html")
    refused(gate, f"/artifacts/{gate.one('Schema')}/card.html", 400)


def test_data_sample_model_and_metrics(gate: Gate) -> None:
    examples = gate.one("Examples")
    view = gate.server.api(f"/artifacts/{examples}/view", rows=5)
    sample = view["sample"]
    assert sample["splits"] == ["eval", "train"] and sample["split"] == "train"
    assert len(sample["rows"]) == 5 and len(sample["rows"][0]) == len(sample["columns"])
    types = {c["name"]: c["type"] for c in sample["columns"]}
    assert types["species"] == "string" and types["bill_length_mm"] == "double"
    capped = gate.server.api(f"/artifacts/{examples}/view", rows=5000, split="eval")
    assert capped["sample"]["split"] == "eval" and len(capped["sample"]["rows"]) == 76
    refused(gate, f"/artifacts/{examples}/view", 400, split="../train")

    model = gate.server.api(f"/artifacts/{gate.one('Model')}/view")
    assert model["manifest"]["label"] == "species"
    assert {i["name"] for i in model["manifest"]["signature"]["inputs"]} >= {"island", "sex"}
    assert any(f["path"] == "conveyor_model.json" for f in model["files"])
    metrics = gate.server.api(f"/artifacts/{gate.one('Metrics')}/view")
    assert 0.8 < metrics["values"]["accuracy"] <= 1


def test_files_and_downloads(gate: Gate) -> None:
    examples = gate.one("Examples")
    listing = gate.server.api(f"/artifacts/{examples}/files")
    paths = [f["path"] for f in listing["files"]]
    assert paths == ["eval/part-00000.parquet", "train/part-00000.parquet"]
    one = gate.server.client.get(
        f"/api/v1/artifacts/{examples}/download", params={"path": paths[1]}
    )
    assert one.status_code == 200 and one.content[:4] == b"PAR1"
    assert len(one.content) == listing["files"][1]["size"]
    whole = gate.server.client.get(f"/api/v1/artifacts/{examples}/download")
    assert whole.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(whole.content))
    assert sorted(archive.namelist()) == paths
    assert archive.read(paths[1]) == one.content
    # a one-file artifact downloads itself, by its listed name too
    metrics = gate.one("Metrics")
    name = gate.server.api(f"/artifacts/{metrics}/files")["files"][0]["path"]
    for params in ({}, {"path": name}):
        got = gate.server.client.get(f"/api/v1/artifacts/{metrics}/download", params=params)
        assert got.status_code == 200 and b"accuracy" in got.content


BAD_PATHS = [
    ("../../../../etc/passwd", 400),
    ("/etc/passwd", 400),
    ("eval/../../x", 400),
    ("eval/./part-00000.parquet", 400),
    ("eval/\x00.parquet", 400),
    ("eval\\..\\..\\x", 400),
    ("..", 400),
    ("", 400),
    ("nope.parquet", 404),
]


@pytest.mark.parametrize(("path", "status"), BAD_PATHS)
def test_path_traversal_is_refused(gate: Gate, path: str, status: int) -> None:
    refused(gate, f"/artifacts/{gate.one('Examples')}/download", status, path=path)


def test_url_encoded_traversal_is_refused(gate: Gate) -> None:
    examples = gate.one("Examples")
    for raw in ("%2e%2e%2f%2e%2e%2fetc%2fpasswd", "%2Fetc%2Fpasswd", "eval%2F%2e%2e%2F%2e%2e%2Fx"):
        response = gate.server.client.get(f"/api/v1/artifacts/{examples}/download?path={raw}")
        assert response.status_code == 400, (raw, response.text)
        assert "passwd" not in response.text or "error" in response.json()


def test_symlinks_out_of_the_artifact_are_not_served(gate: Gate, tmp_path: Path) -> None:
    examples = gate.one("Examples")
    store = connect(gate.metadata_url)
    try:
        folder = Path(store.get_artifact(examples).uri.removeprefix("file://"))
    finally:
        store.close()
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the UI")
    (folder / "escape.txt").symlink_to(secret)
    (folder / "escape-dir").symlink_to(tmp_path, target_is_directory=True)
    try:
        body = refused(gate, f"/artifacts/{examples}/download", 403, path="escape.txt")
        assert "outside" in body["error"]
        refused(gate, f"/artifacts/{examples}/download", 403, path="escape-dir/secret.txt")
        listing = [f["path"] for f in gate.server.api(f"/artifacts/{examples}/files")["files"]]
        assert not any(p.startswith("escape") for p in listing)
        whole = gate.server.client.get(f"/api/v1/artifacts/{examples}/download")
        assert b"not for the UI" not in whole.content
        assert not any(
            n.startswith("escape") for n in zipfile.ZipFile(io.BytesIO(whole.content)).namelist()
        )
    finally:
        os.unlink(folder / "escape.txt")
        os.unlink(folder / "escape-dir")


def test_artifacts_outside_the_root_are_never_served(gate: Gate, tmp_path: Path) -> None:
    outside = tmp_path / "user-data"
    outside.mkdir()
    (outside / "rows.csv").write_text("a,b\n1,2\n")
    store = connect(gate.metadata_url)
    try:
        _, (art,) = store.record_execution(
            "conveyor.Importer", "importer", ExecutionState.COMPLETE,
            outputs=[NewArtifact("result", "conveyor.Dataset@1.0.0", str(outside))],
        )  # fmt: skip
    finally:
        store.close()
    for path in ("view", "files", "download", "card.html"):
        body = refused(gate, f"/artifacts/{art.id}/{path}", 400 if path == "card.html" else 403)
        assert path == "card.html" or "outside the artifact root" in body["error"]
    refused(gate, f"/artifacts/{art.id}/download", 403, path="rows.csv")
    record = gate.server.api(f"/artifacts/{art.id}")  # the record itself is still shown
    assert record["uri"] == str(outside) and record["producer"]["task"] == "importer"


def test_lineage_of_an_artifact(gate: Gate) -> None:
    evaluation = gate.one("ModelEvaluation")
    up = gate.server.api(f"/lineage/artifacts/{evaluation}", direction="upstream", depth=5)
    nodes = {n["id"]: n for n in up["nodes"]}
    assert nodes[f"a{evaluation}"]["focus"] is True
    assert sum(n["focus"] for n in up["nodes"]) == 1
    labels = {n["label"] for n in up["nodes"]}
    assert {"Model", "Examples", "Schema", "trainer", "evaluator", "example_gen"} <= labels
    assert "ModelCard" not in labels  # downstream, not upstream
    ids = set(nodes)
    assert all(e["source"] in ids and e["target"] in ids for e in up["edges"])
    trainer = next(n for n in up["nodes"] if n["label"] == "trainer")
    assert trainer["kind"] == "execution" and trainer["run"] == gate.run_id
    assert {"source": trainer["id"], "target": f"a{gate.one('Model')}"} in up["edges"]
    assert up["truncated"] is False

    down = gate.server.api(f"/lineage/artifacts/{gate.one('Examples')}", direction="downstream")
    down_labels = {n["label"] for n in down["nodes"]}
    assert {"ExampleStatistics", "Model", "ModelEvaluation"} <= down_labels
    shallow = gate.server.api(
        f"/lineage/artifacts/{gate.one('Examples')}", direction="downstream", depth=1
    )
    assert len(shallow["nodes"]) < len(down["nodes"])
    shallow_labels = {n["label"] for n in shallow["nodes"]}
    assert {"Model", "ExampleStatistics"} <= shallow_labels  # made from the examples
    assert "Schema" not in shallow_labels  # made from the statistics: two steps away
    both = gate.server.api(f"/lineage/artifacts/{gate.one('Model')}", depth=1)
    assert {"trainer", "evaluator", "pusher"} <= {n["label"] for n in both["nodes"]}
    assert (
        gate.server.client.get(
            f"/api/v1/lineage/artifacts/{evaluation}", params={"depth": 0}
        ).status_code
        == 422
    )
    refused(gate, "/lineage/artifacts/999999", 404)


def test_lineage_of_an_execution(gate: Gate) -> None:
    trainer = gate.server.api(f"/artifacts/{gate.one('Model')}")["producer"]["id"]
    graph = gate.server.api(f"/lineage/executions/{trainer}", depth=1)
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes[f"e{trainer}"]["focus"] and nodes[f"e{trainer}"]["label"] == "trainer"
    labels = sorted(n["label"] for n in graph["nodes"] if n["kind"] == "artifact")
    assert labels == ["Examples", "Metrics", "Model", "Schema"]
    deeper = gate.server.api(f"/lineage/executions/{trainer}", depth=3, direction="upstream")
    assert "statistics_gen" in {n["label"] for n in deeper["nodes"]}
    assert "evaluator" not in {n["label"] for n in deeper["nodes"]}
    refused(gate, "/lineage/executions/999999", 404)


def test_models_list_and_detail(gate: Gate) -> None:
    listing = gate.server.api("/models")
    model = next(m for m in listing["models"] if m["name"] == MODEL)
    assert model["versions"] == 1 and model["aliases"] == {"champion": 1}
    assert listing["pushed"] == []

    detail = gate.server.api(f"/models/{MODEL}")
    (version,) = detail["versions"]
    assert version["artifact"] == gate.one("Model") and version["run"] == gate.run_id
    assert version["aliases"] == ["champion"]
    assert version["blessing"]["blessed"] is True and version["blessing"]["reason"]
    assert version["blessing"]["artifact"] == gate.one("ModelBlessing")
    assert version["evaluation"]["artifact"] == gate.one("ModelEvaluation")
    assert 0.8 < version["evaluation"]["metrics"]["accuracy"] <= 1
    (change,) = detail["history"]
    assert change["alias"] == "champion" and change["to_version"] == 1
    assert change["from_version"] is None and change["forced"] is False and change["actor"]
    refused(gate, "/models/no-such-model", 404)
    refused(gate, "/models/models:x", 400)
