"""``conveyor serve --log-predictions``: a real server in a subprocess logs what it answers to
Parquet, one file per worker process, published on a graceful shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deploy_support import free_port, wait_ready

from conveyor.data.model import DataSchema, FeatureSchema, FeatureType
from conveyor.data.prediction_logs import is_log_file
from conveyor.model.presets import create_estimator
from conveyor.model.saved import save_model
from conveyor.model.transform import fit_transform

pytestmark = pytest.mark.slow

SCHEMA = DataSchema(
    [
        FeatureSchema("x", FeatureType.FLOAT),
        FeatureSchema("c", FeatureType.STRING, values=["a", "b"]),
        FeatureSchema("y", FeatureType.STRING),
    ]
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    c = rng.choice(["a", "b"], 200)
    table = pa.table({"x": x, "c": c, "y": np.where(x + (c == "a") > 0.5, "yes", "no")})
    fitted = fit_transform(table, SCHEMA, "y")
    estimator, _ = create_estimator("sklearn:LogisticRegression", "classification", {})
    estimator.fit(fitted.matrix(table), np.searchsorted(["no", "yes"], table.column("y")))
    path = tmp_path_factory.mktemp("models") / "toy"
    save_model(str(path), estimator, fitted, task="classification", label="y",
               classes=["no", "yes"], schema=SCHEMA)  # fmt: skip
    return path


def _serve(
    model: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "conveyor", "serve", str(model), "--port", str(port), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_ready(proc, url)
    return proc, url


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    output = proc.communicate()[0]
    assert code == 0, output
    return output


def test_every_answer_is_logged_by_each_worker_and_published_at_shutdown(
    model_dir: Path, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    proc, url = _serve(model_dir, "--workers", "2", "--log-predictions", "--log-dir", str(logs))
    sent: list[tuple[float, str]] = []
    with httpx.Client(timeout=30) as client:
        for i in range(60):  # new connections: both workers answer some
            client.headers["Connection"] = "close"
            row = {"x": float(i), "c": "ab"[i % 2]}
            answer = client.post(f"{url}/v1/models/toy:predict", json={"rows": [row]})
            assert answer.status_code == 200, answer.text
            sent.append((row["x"], answer.json()["predictions"][0]))
        refused = client.post(f"{url}/v1/models/toy:predict", json={"rows": [{"x": 1}]})
        assert refused.status_code == 422
        tagged = client.post(f"{url}/v1/models/toy:predict", json={"rows": [{"x": -5.0, "c": "a"}]},
                             headers={"X-Request-ID": "client-42"})  # fmt: skip
        sent.append((-5.0, tagged.json()["predictions"][0]))
    output = _stop(proc)
    assert f"Logging 100% of requests to {logs}/toy/unversioned" in output
    folder = logs / "toy" / "unversioned"
    files = sorted(folder.iterdir())
    assert files and all(is_log_file(f.name) for f in files), files  # no temporary file left
    pids = {f.name.split("-")[-2] for f in files}
    assert len(pids) == len(files)  # one file per worker process, named after it
    table = pa.concat_tables([pq.read_table(f) for f in files])
    inputs = table.column("inputs").combine_chunks().field("x").to_pylist()
    outputs = table.column("outputs").combine_chunks().field("predictions").to_pylist()
    logged = sorted(zip(inputs, outputs, strict=True))
    assert logged == sorted(sent)  # each answered row once, the refused one never
    assert set(table.column("role").to_pylist()) == {"primary"}
    ids = dict(zip(inputs, table.column("request_id").to_pylist(), strict=True))
    assert ids[-5.0] == "client-42" and len(set(ids.values())) == len(sent)  # the client's id


def test_a_sampled_log_under_the_artifact_root_by_default(model_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    proc, url = _serve(model_dir, "--log-predictions", "0.5",
                       env={"CONVEYOR_ARTIFACT_ROOT": str(root)})  # fmt: skip
    with httpx.Client(timeout=30) as client:
        for i in range(100):
            body = {"rows": [{"x": float(i), "c": "a"}]}
            assert client.post(f"{url}/v1/models/toy:predict", json=body).status_code == 200
        metrics = client.get(f"{url}/metrics").text
    _stop(proc)
    counts = dict(line.rsplit(" ", 1) for line in metrics.splitlines() if "prediction_log" in line
                  and not line.startswith("#"))  # fmt: skip
    logged = int(counts['conveyor_prediction_log_rows_total{outcome="logged"}'])
    assert logged + int(counts["conveyor_prediction_log_requests_sampled_out_total"]) == 100
    assert counts['conveyor_prediction_log_rows_total{outcome="dropped"}'] == "0"
    [file] = (root / "prediction_logs" / "toy" / "unversioned").iterdir()
    assert 20 < pq.read_table(file).num_rows == logged < 80


def test_a_bad_rate_is_a_usage_error(model_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "conveyor", "serve", str(model_dir), "--log-predictions", "2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--log-predictions" in done.stderr and "0<x<=1" in done.stderr.replace(" ", "")
