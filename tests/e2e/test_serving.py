"""``conveyor serve``: a real uvicorn server in a subprocess, real HTTP, a real trained model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pytest
from deploy_support import free_port
from prometheus_client.parser import text_string_to_metric_families

from conveyor.data.model import DataSchema, FeatureSchema, FeatureType
from conveyor.model.presets import create_estimator
from conveyor.model.saved import load_model, save_model
from conveyor.model.transform import fit_transform
from conveyor.storage import content_digest

pytestmark = pytest.mark.slow

SCHEMA = DataSchema(
    [
        FeatureSchema("x", FeatureType.FLOAT),
        FeatureSchema("n", FeatureType.INT),
        FeatureSchema("c", FeatureType.STRING, values=["a", "b"]),
        FeatureSchema("t", FeatureType.STRING),
        FeatureSchema("y", FeatureType.STRING),
    ]
)
CLASSES = ["no", "yes"]
ROWS = [
    {"x": 0.3, "n": 2, "c": "a", "t": "red"},
    {"x": -1.2, "n": 0, "c": "b", "t": "blue"},
    {"x": 2.5, "n": 7, "c": "b", "t": None},
    {"x": None, "n": None, "c": None, "t": "ünïcödé ✓"},
]


def _table(rows: int) -> pa.Table:
    rng = np.random.default_rng(0)
    x = rng.normal(size=rows)
    n = rng.integers(0, 10, rows)
    c = rng.choice(["a", "b"], rows)
    t = rng.choice(["red", "blue", "green"], rows)
    y = np.where(x + (c == "a") + n / 10 > 0.8, "yes", "no")
    return pa.table({"x": x, "n": n, "c": c, "t": t, "y": y})


def _push(root: Path, name: str) -> Path:
    """A trained classifier pushed as ``root/name/1700000000`` with the Pusher's record."""
    table = _table(300)
    fitted = fit_transform(table, SCHEMA, "y")
    estimator, _ = create_estimator("sklearn:LogisticRegression", "classification", {})
    estimator.fit(fitted.matrix(table), np.searchsorted(CLASSES, table.column("y").to_pylist()))
    trained = root / "trained"
    save_model(str(trained), estimator, fitted, task="classification", label="y",
               classes=CLASSES, schema=SCHEMA)  # fmt: skip
    version = root / name / "1700000000"
    version.parent.mkdir(parents=True)
    os.rename(trained, version)
    marker = {"model_fingerprint": content_digest(str(version)), "version": 1700000000}
    (version / "conveyor_push.json").write_text(json.dumps(marker))
    return version


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str

    def stop(self) -> str:
        """SIGTERM, then the output; the shutdown must be graceful and exit 0."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=20)
        assert self.proc.stdout is not None
        output = self.proc.stdout.read()
        self.proc.stdout.close()
        assert code == 0, output
        assert "Application shutdown complete" in output, output
        return output


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "conveyor", "serve", *args]


def _start(
    model: Path | str, *extra: str, host: str = "127.0.0.1", env: dict[str, str] | None = None
) -> Server:
    port = free_port()
    proc = subprocess.Popen(
        _cli(str(model), "--host", host, "--port", str(port), *extra),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=None if env is None else {**os.environ, **env},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.communicate()[0]
            raise AssertionError(f"server exited {proc.returncode}: {output}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return Server(proc, url)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"server not ready in 60 s: {proc.communicate()[0]}")


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _push(tmp_path_factory.mktemp("serving"), "toy")


@pytest.fixture(scope="module")
def server(pushed: Path) -> Iterator[Server]:
    srv = _start(pushed, "--max-body-bytes", "100000")
    yield srv
    srv.stop()


def _predict(
    server: Server, body: object = None, *, content: bytes | None = None
) -> httpx.Response:
    url = f"{server.url}/v1/models/toy:predict"
    if content is not None:
        return httpx.post(url, content=content, timeout=30)
    return httpx.post(url, json=body, timeout=30)


def test_predictions_equal_the_in_process_model(server, pushed):
    model = load_model(str(pushed))
    expected = model.predict(ROWS).tolist()
    proba = model.predict_proba(ROWS)
    by_rows = _predict(server, {"rows": ROWS})
    assert by_rows.status_code == 200, by_rows.text
    answer = by_rows.json()
    assert answer["predictions"] == expected
    assert answer["model"] == "toy" and answer["version"] == "1700000000"
    assert [[p["no"], p["yes"]] for p in answer["probabilities"]] == proba.tolist()
    columns = {k: [r[k] for r in ROWS] for k in ROWS[0]}
    assert _predict(server, {"columns": columns}).json()["predictions"] == expected
    # what pandas writes for an integer column with a missing value: 2.0 is the integer 2
    floats = [{**r, "n": None if r["n"] is None else float(r["n"])} for r in ROWS]
    assert _predict(server, {"rows": floats}).json() == answer


def _problems(response: httpx.Response) -> list[tuple[int | None, str, str]]:
    assert response.status_code == 422, response.text
    return [(p["row"], p["field"], p["message"]) for p in response.json()["problems"]]


def test_missing_extra_and_mistyped_fields_get_422_naming_row_and_field(server):
    good = ROWS[0]
    rows = [
        good,
        {k: v for k, v in good.items() if k != "n"},
        {**good, "colour": "red"},
        {**good, "x": "3.5"},
        {**good, "n": 1.5},
        {**good, "c": "z"},
        {**good, "t": 7},
        {**good, "x": True},
        {**good, "n": 2**70},
    ]
    assert _problems(_predict(server, {"rows": rows})) == [
        (1, "n", "missing field"),
        (2, "colour", "unknown field"),
        (3, "x", 'expected a number, got "3.5"'),
        (4, "n", "expected an integer, got 1.5"),
        (5, "c", 'expected one of "a", "b", got "z"'),
        (6, "t", "expected a string, got 7"),
        (7, "x", "expected a number, got true"),
        (8, "n", "expected a 64-bit integer, got 1180591620717411303424"),
    ]


def test_columns_missing_or_unknown_get_422(server):
    response = _predict(server, {"columns": {"x": [1.0], "n": [1], "c": ["a"], "zz": [1]}})
    assert _problems(response) == [(None, "t", "missing field"), (None, "zz", "unknown field")]


def test_bodies_over_the_limit_get_413_unread(server):
    big = b'{"rows": [' + b" " * 200_000 + b"]}"
    response = _predict(server, content=big)
    assert response.status_code == 413
    assert "100000" in response.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield b'{"rows": ['
        for _ in range(50):
            yield b" " * 10_000
        yield b"]}"

    url = f"{server.url}/v1/models/toy:predict"
    assert httpx.post(url, content=chunks(), timeout=30).status_code == 413


@pytest.mark.parametrize(
    ("content", "status", "says"),
    [
        (b"", 400, "Empty body"),
        (b"{", 400, "not valid JSON"),
        (b'{"rows": [{"x": NaN, "n": 1, "c": "a", "t": "r"}]}', 400, "NaN"),
        (b'{"rows": [{"x": Infinity, "n": 1, "c": "a", "t": "r"}]}', 400, "Infinity"),
        (b"[" * 40_000 + b"]" * 40_000, 400, "nested too deeply"),
        (b'{"rows": []}', 400, "non-empty"),
        (b'{"other": 1}', 400, "one JSON object"),
        (b"\xff\xfe", 400, "not valid JSON"),
    ],
)
def test_malformed_bodies_get_400_with_a_reason(server, content, status, says):
    response = _predict(server, content=content)
    assert response.status_code == status, response.text
    assert says in response.json()["error"]


def test_a_corpus_of_bad_input_gives_no_5xx(server):
    good = ROWS[0]
    values = [None, True, 0, -1, 2**63, -(2**64), 1e308, 1e-320, "", "x" * 10_000, "🙂\u0000",
              [], {}, [1, [2]], {"a": {"b": 1}}]  # fmt: skip
    bodies: list[bytes] = [b"null", b"1", b'"rows"', b"[]", b"{}", b'{"rows": null}',
                           b'{"rows": [1, "a", null]}', b'{"columns": {"x": 1}}',
                           b'{"columns": {"x": [1], "n": [1, 2]}}', b'{"columns": []}',
                           b'{"rows": [{"x": 1e999, "n": 1, "c": "a", "t": "r"}]}',
                           b'{"rows": [{"x": ' + b"9" * 5000 + b"}]}",
                           b"\xef\xbb\xbf{}", b'{"rows": [' + b"{}," * 20_000 + b"{}]}",
                           b'{"' + "é".encode() * 1000 + b'": 1}']  # fmt: skip
    for field in good:
        for value in values:
            bodies.append(json.dumps({"rows": [{**good, field: value}]}).encode())
            columns = {k: [good[k]] for k in good} | {field: [value]}
            bodies.append(json.dumps({"columns": columns}).encode())
    statuses = {}
    for body in bodies:
        code = _predict(server, content=body).status_code
        statuses[code] = statuses.get(code, 0) + 1
        assert code < 500, body[:200]
    assert set(statuses) <= {200, 400, 413, 422}


def test_a_10_mb_body_is_refused_without_a_5xx(pushed):
    srv = _start(pushed)  # the default limit: 10 MiB
    url = f"{srv.url}/v1/models/toy:predict"
    try:
        row = json.dumps(ROWS[0]).encode()
        body = b'{"rows": [' + b",".join([row] * (11 * 1024 * 1024 // len(row))) + b"]}"
        assert httpx.post(url, content=body, timeout=60).status_code == 413
        under = b'{"rows": [' + b",".join([row] * (9 * 1024 * 1024 // len(row))) + b"]}"
        response = httpx.post(url, content=under, timeout=120)
        assert response.status_code == 200, response.text[:300]
        assert len(response.json()["predictions"]) == 9 * 1024 * 1024 // len(row)
    finally:
        srv.stop()


def test_metrics_count_requests_by_route_and_code(pushed):
    srv = _start(pushed)
    try:
        for _ in range(3):
            assert _predict(srv, {"rows": ROWS}).status_code == 200
        assert _predict(srv, {"rows": [{}]}).status_code == 422
        assert httpx.get(f"{srv.url}/nowhere").status_code == 404
        text = httpx.get(f"{srv.url}/metrics").text
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        route = "/v1/models/{name}:predict"
        served = (("model", "toy"), ("role", "primary"), ("version", "1700000000"))

        def requests(route: str, code: str, labels: tuple[tuple[str, str], ...]) -> float:
            key = tuple(sorted((("route", route), ("code", code), *labels)))
            return samples[("conveyor_requests_total", key)]

        assert requests(route, "200", served) == 3
        assert requests(route, "422", served) == 1
        unserved = (("model", ""), ("role", ""), ("version", ""))
        assert requests("other", "404", unserved) == 1
        assert samples[("conveyor_errors_total", (("code", "422"),))] == 1
        latency = (("role", "primary"), ("route", route))
        assert samples[("conveyor_request_duration_seconds_count", latency)] == 4
        assert (
            samples[("conveyor_request_duration_seconds_bucket", (("le", "+Inf"), *latency))] == 4
        )
    finally:
        srv.stop()


def test_docs_and_openapi_are_served_offline(server):
    page = httpx.get(f"{server.url}/docs")
    assert page.status_code == 200 and "/v1/models/{name}:predict" in page.text
    assert "http://" not in page.text and "https://" not in page.text and "<script" not in page.text
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert "/v1/models/{name}:predict" in spec["paths"]
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert (
        httpx.post(f"{server.url}/v1/models/other:predict", json={"rows": ROWS}).status_code == 404
    )


def test_binding_off_loopback_needs_a_token_or_insecure(pushed):
    refused = subprocess.run(_cli(str(pushed), "--host", "0.0.0.0", "--port", "1"),
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert refused.returncode == 2
    assert "--token" in refused.stderr and "--insecure" in refused.stderr
    srv = _start(pushed, "--token", "s3cret", host="0.0.0.0")
    try:
        url = f"{srv.url}/v1/models/toy:predict"
        assert httpx.post(url, json={"rows": ROWS}).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert httpx.post(url, json={"rows": ROWS}, headers=wrong).status_code == 401
        assert httpx.get(f"{srv.url}/metrics").status_code == 401
        assert httpx.get(f"{srv.url}/healthz").status_code == 200
        right = {"Authorization": "Bearer s3cret"}
        assert httpx.post(url, json={"rows": ROWS}, headers=right).status_code == 200
    finally:
        srv.stop()
    insecure = _start(pushed, "--insecure", host="0.0.0.0")
    try:
        assert _predict(insecure, {"rows": ROWS}).status_code == 200
    finally:
        assert "without a token" in insecure.stop()


def test_a_model_changed_after_its_push_is_refused(tmp_path):
    version = _push(tmp_path, "toy")
    manifest = version / "conveyor_model.json"
    manifest.write_text(manifest.read_text().replace('"label": "y"', '"label": "z"'))
    refused = subprocess.run(_cli(str(version), "--port", str(free_port())),
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert refused.returncode == 1
    assert "Refusing to serve" in refused.stderr and "was recorded for it" in refused.stderr


def test_several_workers_answer_and_sigterm_stops_them(pushed):
    srv = _start(pushed, "--workers", "2")
    try:
        for _ in range(6):
            assert _predict(srv, {"rows": ROWS}).status_code == 200
    finally:
        srv.stop()


def test_a_registered_version_is_served_under_its_name_and_number(tmp_path):
    from conveyor.config import Settings
    from conveyor.metadata import ExecutionState, NewArtifact
    from conveyor.metadata.sql import SqlMetadataStore
    from conveyor.testing.registry import bless

    folder = _push(tmp_path, "unused")
    (folder / "conveyor_push.json").unlink()  # a trainer's folder: no push record
    home = {"CONVEYOR_HOME": str(tmp_path / "home")}
    settings = Settings.load(env=home, cwd=str(tmp_path))
    with SqlMetadataStore(settings.metadata_url) as store:
        store.register_model("churn")
        _, [model] = store.record_execution(
            "Trainer", "trainer", ExecutionState.COMPLETE,
            outputs=[NewArtifact("model", "conveyor.Model@1.0.0", str(folder),
                                 fingerprint=content_digest(str(folder)))],
        )  # fmt: skip
        bless(store, model.id)
        store.create_model_version("churn", model.id)
        store.set_alias("churn", "champion", 1)
    srv = _start("models:/churn@champion", env=home)
    try:
        response = httpx.post(f"{srv.url}/v1/models/churn:predict", json={"rows": ROWS})
        assert response.status_code == 200, response.text
        assert response.json()["version"] == "1"
        assert response.json()["predictions"] == load_model(str(folder)).predict(ROWS).tolist()
    finally:
        srv.stop()
    missing = subprocess.run(_cli("models:/churn@staging"), capture_output=True, text=True,
                             env={**os.environ, **home}, timeout=60)  # fmt: skip
    assert missing.returncode == 2 and "staging" in missing.stderr
    (folder / "transform" / "transform.json").write_text("{}")
    changed = subprocess.run(_cli("models:/churn/1"), capture_output=True, text=True,
                             env={**os.environ, **home}, timeout=60)  # fmt: skip
    assert changed.returncode == 1 and "Refusing to serve" in changed.stderr
