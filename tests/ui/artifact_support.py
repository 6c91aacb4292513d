"""A UI server over one run of ``artifact_pipeline.py`` (statistics, schema, anomalies, a
model, its evaluation and card, a push into the registry), on SQLite or PostgreSQL; shared by
the tests of a module (starting one costs a pipeline run)."""

from __future__ import annotations

import csv
import re
import shutil
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ui_support import REPO, UIServer, copy_pipelines, start_ui

from conveyor.metadata import CONTEXT_RUN, connect

PIPELINE = Path(__file__).with_name("artifact_pipeline.py")
PENGUINS = REPO / "tests" / "data" / "penguins.csv"
MODEL = "ui-penguins"


@dataclass
class Gate:
    """A server and the artifact ids of the run, by type title (``conveyor.Schema``)."""

    server: UIServer
    run_id: str
    ids: dict[str, list[int]]
    metadata_url: str
    artifact_root: Path

    def one(self, title: str, index: int = 0) -> int:
        return self.ids[f"conveyor.{title}"][index]


def drifted_copy(source: Path, dest: Path) -> None:
    """The penguins with an unknown island in every fifth row and ``sex`` missing in every
    third: two anomalies against the schema of the original."""
    with source.open(newline="") as fh:
        rows = list(csv.reader(fh))
    for i, row in enumerate(rows[1:]):
        if i % 5 == 0:
            row[1] = "Atlantis"
        if i % 3 == 0:
            row[6] = ""
    with dest.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)


def start_gate(base: Path, metadata_url: str | None = None) -> Gate:
    """Copy the project, start ``conveyor ui`` on its stores, run the pipeline once."""
    project = base / "project"
    copy_pipelines(project)
    shutil.copy(PIPELINE, project / PIPELINE.name)
    shutil.copy(PENGUINS, project / "penguins.csv")
    drifted_copy(PENGUINS, project / "penguins_drift.csv")
    env = {"CONVEYOR_METADATA_URL": metadata_url} if metadata_url else None
    server = start_ui(project, env=env)
    try:
        done = server.conveyor("run", PIPELINE.name)
        match = re.search(r"Run (penguin-gate-\S+) complete", done.stdout + done.stderr)
        assert match, done.stdout + done.stderr
        url = metadata_url or f"sqlite:///{project}/.conveyor/metadata.db"
        store = connect(url)
        try:
            run = store.find_context(CONTEXT_RUN, match.group(1))
            assert run is not None
            arts = store.list_artifacts(context_id=run.id)
            events = store.get_events(artifact_ids=[a.id for a in arts])
            task = {e.artifact_id: store.get_execution(e.execution_id).name for e in events
                    if e.type.is_output}  # fmt: skip
            ids: dict[str, list[int]] = defaultdict(list)
            # by producer: example_gen's before example_gen-2's (the drifted copy)
            for art in sorted(arts, key=lambda a: (task.get(a.id, ""), a.id)):
                ids[art.type_name.split("@")[0]].append(art.id)
        finally:
            store.close()
    except BaseException:
        server.stop()
        raise
    return Gate(server, match.group(1), dict(ids), url, project / ".conveyor" / "artifacts")


@contextmanager
def own_schema(pg_uri: str) -> Iterator[str]:
    """A store URL on a PostgreSQL schema of its own (``pg_uri``'s is shared by the session),
    dropped afterwards."""
    import psycopg

    server = pg_uri.partition("?")[0]
    schema = f"cv_test_ui_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{server}?schema={schema}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
