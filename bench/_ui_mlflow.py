"""The UI benchmark's anchor: the same runs in MLflow's SQLite tracking store, and
``mlflow server`` over it.

The schema is MLflow's own (its ``SqlAlchemyStore`` creates and migrates an empty
``sqlite:///`` store); the rows are then bulk-inserted with ``sqlite3`` into ``experiments``,
``runs``, ``params``, ``metrics``, ``latest_metrics`` and ``tags``, from the Conveyor store the
benchmark generated (same run names, experiments, parameters, states, times and metric points;
logging 10,000 runs through MLflow's client would take about 20 minutes). The database is cached
beside the Conveyor one, keyed by the same sizes.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

STATUS = {"COMPLETE": "FINISHED", "FAILED": "FAILED", "CANCELED": "KILLED", "RUNNING": "RUNNING"}
SEARCH = "/ajax-api/2.0/mlflow/runs/search"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build(
    python: Path, source_db: Path, source: str, target: Path, pipeline: str
) -> dict[str, Any]:
    """MLflow's store at ``target`` holding ``pipeline``'s runs of the Conveyor SQLite store
    ``source_db`` (cached while ``source``, the Conveyor data's generation stamp, is the same);
    its manifest (experiment ids, run count)."""
    manifest_path = target.with_suffix(".json")
    if target.exists() and manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("source") == source:
            return dict(manifest, cached=True)
    for path in target.parent.glob(target.name + "*"):
        path.unlink()
    t0 = time.perf_counter()
    artifacts = target.parent / (target.stem + "-artifacts")
    schema = (
        "from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore; "
        f"SqlAlchemyStore({f'sqlite:///{target}'!r}, {str(artifacts)!r})"
    )
    done = subprocess.run([str(python), "-c", schema], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"MLflow could not create its schema: {done.stderr[-2000:]}")
    manifest = _fill(source_db, target, artifacts, pipeline)
    manifest["generate_s"] = round(time.perf_counter() - t0, 1)
    manifest["source"] = source
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return dict(manifest, cached=False)


def _uuid(run_id: str) -> str:
    return hashlib.md5(run_id.encode()).hexdigest()  # an id, not a secret


def _fill(source_db: Path, target: Path, artifacts: Path, pipeline: str) -> dict[str, Any]:
    src = sqlite3.connect(f"file:{source_db}?mode=ro", uri=True)
    rows = src.execute(
        "SELECT c.id, c.name, c.properties FROM contexts c JOIN types t ON t.id = c.type_id "
        "WHERE t.kind = 'context' AND t.name = 'conveyor.PipelineRun' ORDER BY c.id"
    ).fetchall()
    runs = []
    for ctx_id, name, text in rows:
        props = json.loads(text)
        if props.get("pipeline") == pipeline:
            runs.append((ctx_id, name, props))
    experiments = sorted({p["experiment"] for _, _, p in runs})
    exp_ids = {name: i + 1 for i, name in enumerate(experiments)}
    now_ms = int(time.time() * 1000)
    db = sqlite3.connect(target)
    db.execute("PRAGMA journal_mode=WAL")
    with db:
        db.executemany(
            "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, "
            "creation_time, last_update_time) VALUES (?, ?, ?, 'active', ?, ?)",
            [(i, n, f"{artifacts}/{i}", now_ms, now_ms) for n, i in exp_ids.items()],
        )
        run_rows, params, tags, latest = [], [], [], []
        uuids: dict[int, str] = {}
        for ctx_id, name, props in runs:
            uuid = uuids[ctx_id] = _uuid(name)
            exp = exp_ids[props["experiment"]]
            start = int(props["started_at"] * 1000)
            end = int(props["finished_at"] * 1000) if props.get("finished_at") else None
            run_rows.append(
                (
                    uuid,
                    name,
                    "LOCAL",
                    "ui_shapes.py",
                    "",
                    "bench",
                    STATUS[props["state"]],
                    start,
                    end,
                    "",
                    "active",
                    f"{artifacts}/{exp}/{uuid}/artifacts",
                    exp,
                )
            )
            params += [(k, str(v), uuid) for k, v in props["parameters"].items()]
            tags += [
                ("mlflow.runName", name, uuid),
                ("mlflow.user", "bench", uuid),
                ("mlflow.source.name", "ui_shapes.py", uuid),
                ("mlflow.source.type", "LOCAL", uuid),
            ]
        db.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
            "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
            "artifact_uri, experiment_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            run_rows,
        )
        db.executemany('INSERT INTO params ("key", value, run_uuid) VALUES (?, ?, ?)', params)
        db.executemany('INSERT INTO tags ("key", value, run_uuid) VALUES (?, ?, ?)', tags)
        points = 0
        last: dict[tuple[str, str], tuple[float, int, int]] = {}
        cursor = src.execute(
            "SELECT context_id, name, value, step, timestamp FROM metrics ORDER BY id"
        )
        while batch := cursor.fetchmany(100_000):
            out = []
            for ctx_id, name, value, step, ts in batch:
                uuid = uuids.get(ctx_id)
                if uuid is None:
                    continue
                ms = int(ts * 1000)
                out.append((name, value, ms, uuid, step))
                prev = last.get((name, uuid))
                if prev is None or (step, ms) >= (prev[1], prev[2]):
                    last[(name, uuid)] = (value, step, ms)
            db.executemany(
                'INSERT INTO metrics ("key", value, timestamp, run_uuid, step, is_nan) '
                "VALUES (?, ?, ?, ?, ?, 0)",
                out,
            )
            points += len(out)
        latest = [(k[0], v[0], v[2], v[1], k[1]) for k, v in last.items()]
        db.executemany(
            'INSERT INTO latest_metrics ("key", value, timestamp, step, is_nan, run_uuid) '
            "VALUES (?, ?, ?, ?, 0, ?)",
            latest,
        )
    db.execute("ANALYZE")
    db.close()
    src.close()
    return {
        "runs": len(runs),
        "experiment_ids": [str(i) for i in exp_ids.values()],
        "metric_points": points,
    }


class MLflowServer:
    """``mlflow server`` over the store, on a free port of the loopback."""

    def __init__(self, mlflow: Path, store: Path, scratch: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = scratch / f"mlflow-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        cmd = [
            str(mlflow),
            "server",
            "--backend-store-uri",
            f"sqlite:///{store}",
            "--default-artifact-root",
            str(scratch / "mlflow-artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer in 120 s: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)  # its gunicorn/uvicorn workers too
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


def search_body(experiment_ids: list[str], filter_: str = "", order: str = "") -> dict[str, Any]:
    """The body MLflow's own UI posts for its runs table (first page of 100)."""
    return {
        "experiment_ids": experiment_ids,
        "filter": filter_,
        "run_view_type": "ACTIVE_ONLY",
        "max_results": 100,
        "order_by": [order or "attributes.start_time DESC"],
    }
