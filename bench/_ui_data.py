"""The UI benchmark's data: a Conveyor store holding N runs of a 20-step pipeline, about a
million metric points and one 100-step run, made of rows exactly as the real code writes them.

How: ``conveyor run`` runs ``bench/pipelines/ui_shapes.py:ui_train20`` once (the template) and
``ui_chain100`` once, for real, into the target store. The template run's rows (its run context
and parent links, its 20 executions, their events, artifacts, associations, attributions and
metric points) are then copied N-1 times with new ids, in big transactions (``executemany`` on
SQLite, ``COPY`` on PostgreSQL), each copy with its own run id, experiment (one of 20),
parameters (10), state (mostly COMPLETE, some FAILED, CANCELED, RUNNING), times, cache keys and
final metrics (the run's ``metrics`` property: ``{name: last value}``). The first ``curves``
finished runs get a 10,000-step ``loss`` curve instead of 3 points, and the first of them a
100,000-step ``loss_fine`` series with one planted spike. The template run itself becomes copy 0.

``build(url, ...)`` returns a manifest (ids, names and the counts each filter must find) that the
benchmark checks the answers against. A SQLite store is cached under
``~/.cache/conveyor-bench/`` keyed by this module's ``VERSION`` and the sizes; a PostgreSQL one
lives in a schema of the same key, reused while its manifest exists.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SHAPES = HERE / "pipelines" / "ui_shapes.py"
VERSION = 1  # bump when the generated data changes shape
CACHE = Path(os.environ.get("CONVEYOR_BENCH_CACHE", Path.home() / ".cache" / "conveyor-bench"))
PG_SERVER = os.environ.get("CONVEYOR_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
EXPERIMENTS = 20
OPTIMIZERS = ("adam", "sgd", "rmsprop")
SCHEDULERS = ("cosine", "step", "constant")
SPIKE = 1000.0  # the planted spike of the long series (every other value is below 2)


@dataclass(frozen=True)
class Sizes:
    """How much to generate."""

    runs: int = 10_000
    curves: int = 100  # runs with a long loss curve
    curve_steps: int = 10_000
    long_steps: int = 100_000  # the one long series

    @property
    def key(self) -> str:
        return f"v{VERSION}-r{self.runs}-c{self.curves}x{self.curve_steps}-l{self.long_steps}"


def pg_url(schema: str) -> str:
    return f"{PG_SERVER}?schema={schema}"


def build(backend: str, sizes: Sizes, conveyor: str, *, fresh: bool = False) -> dict[str, Any]:
    """The store's URL and manifest, generated unless a cached one of the same key exists."""
    CACHE.mkdir(parents=True, exist_ok=True)
    manifest_path = CACHE / f"ui-{backend}-{sizes.key}.json"
    if backend == "sqlite":
        db = CACHE / f"ui-{backend}-{sizes.key}.db"
        url = f"sqlite:///{db}"
        if manifest_path.exists() and db.exists() and not fresh:
            return dict(json.loads(manifest_path.read_text()), url=url, cached=True)
        manifest_path.unlink(missing_ok=True)
        for path in db.parent.glob(db.name + "*"):
            path.unlink()
    else:
        schema = f"cv_bench_ui_{sizes.key.replace('-', '_')}"
        url = pg_url(schema)
        if manifest_path.exists() and _pg_schema_exists(schema) and not fresh:
            return dict(json.loads(manifest_path.read_text()), url=url, cached=True)
        manifest_path.unlink(missing_ok=True)
        _pg_drop(schema)
    t0 = time.perf_counter()
    manifest = generate(url, sizes, conveyor)
    manifest["generate_s"] = round(time.perf_counter() - t0, 1)
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return dict(manifest, url=url, cached=False)


def _pg_schema_exists(schema: str) -> bool:
    import psycopg

    with psycopg.connect(PG_SERVER, autocommit=True) as conn:
        row = conn.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (schema,)
        ).fetchone()
    return row is not None


def _pg_drop(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_SERVER, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _run_template(url: str, conveyor: str, scratch: Path) -> tuple[str, str]:
    """Run the two template pipelines for real into ``url``; their run ids."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env.update(CONVEYOR_HOME=str(scratch / "home"), CONVEYOR_METADATA_URL=url, CONVEYOR_AGENT="off")
    ids = []
    for name, run_id in (("ui_train20", "bench-ui-template"), ("ui_chain100", "bench-ui-100")):
        cmd = [conveyor, "run", f"{SHAPES}:{name}", "--in-process", "--run-id", run_id]
        if name == "ui_train20":
            cmd += ["--experiment", "exp-00"]
        done = subprocess.run(cmd, cwd=scratch, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
        ids.append(run_id)
    return ids[0], ids[1]


def generate(url: str, sizes: Sizes, conveyor: str) -> dict[str, Any]:
    """Fill the store at ``url`` (empty) and return the manifest."""
    from conveyor.metadata.sql import SqlMetadataStore

    scratch = Path(tempfile.mkdtemp(prefix="conveyor-bench-ui-"))
    try:
        template_id, hundred_id = _run_template(url, conveyor, scratch)
        store = SqlMetadataStore(url)
        try:
            from _ui_copy import Copier

            with store._write("generate the UI benchmark's runs") as conn:
                manifest = Copier(conn, template_id, sizes).run()
        finally:
            store.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    manifest["hundred_step_run"] = hundred_id
    return manifest


if __name__ == "__main__":  # python bench/_ui_data.py sqlite|postgresql [runs]
    backend = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    small = Sizes(runs=runs) if runs >= 1000 else Sizes(runs, 5, 1000, 10_000)
    exe = str(Path(sys.executable).with_name("conveyor"))
    result = build(backend, small, exe, fresh="--fresh" in sys.argv)
    print(json.dumps(result, indent=1))


class Toucher:
    """Moves the template run's ``updated_at`` forward, as a run being written does: the runs
    search keeps a result only while the runs' count and newest ``updated_at`` are unchanged,
    so the next search after a touch is computed again."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite:")
        if self.sqlite:
            import sqlite3

            self.conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
        else:
            import psycopg

            schema = url.rsplit("schema=", 1)[1]
            self.conn = psycopg.connect(url.split("?", 1)[0], autocommit=True)
            self.conn.execute(f'SET search_path TO "{schema}"')
        self.mark = "?" if self.sqlite else "%s"

    def touch(self) -> None:
        now = datetime.now(UTC)
        value: Any = now.replace(tzinfo=None).isoformat(" ", "microseconds") if self.sqlite else now
        self.conn.execute(
            f"UPDATE contexts SET updated_at = {self.mark} WHERE name = 'bench-ui-template'",
            (value,),
        )
        if self.sqlite:
            self.conn.commit()

    def close(self) -> None:
        self.conn.close()
