"""Fixtures for end-to-end runs of the local orchestrator on real stores."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conveyor._internal.importing import import_file
from conveyor.metadata import MetadataStore, connect
from conveyor.orchestrator import LocalOrchestrator, RunResult

PIPELINES = Path(__file__).parent / "pipelines"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty CONVEYOR_HOME."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def metadata_url(home: Path) -> str:
    """A SQLite metadata store in the home folder."""
    return f"sqlite:///{home}/metadata.db"


@pytest.fixture
def store(metadata_url: str) -> Iterator[MetadataStore]:
    """The metadata store the runs write to."""
    s = connect(metadata_url)
    yield s
    s.close()


@pytest.fixture
def load() -> Callable[[str], Any]:
    """Import a test pipeline module from tests/integration/pipelines by file name."""

    def _load(name: str) -> Any:
        return import_file(str(PIPELINES / f"{name}.py"))

    return _load


@pytest.fixture
def run_pipeline(home: Path, metadata_url: str) -> Callable[..., RunResult]:
    """Run a pipeline object with the local orchestrator; keyword options pass through."""

    def _run(pipeline: Any, params: dict[str, Any] | None = None, **options: Any) -> RunResult:
        orch = LocalOrchestrator(
            metadata_url=options.pop("metadata_url", metadata_url),
            artifact_root=options.pop("artifact_root", str(home / "artifacts")),
            home=str(home),
            workers=options.pop("workers", 2),
            search_root=str(PIPELINES),
            **options,
        )
        with orch:
            return orch.run(pipeline.spec, params)

    return _run


@pytest.fixture(params=["workers", "in-process"])
def mode(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Both executors: worker processes and in-process."""
    return {"in_process": request.param == "in-process"}


PG_BASE = os.environ.get("CONVEYOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema on the local server, dropped afterwards."""
    import uuid

    psycopg = pytest.importorskip("psycopg")
    schema = f"cv_it_{uuid.uuid4().hex[:10]}"
    conninfo = PG_BASE.replace("postgresql://", "postgresql://", 1)
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"PostgreSQL is not reachable at {PG_BASE}: {exc}")
    yield f"{PG_BASE}?schema={schema}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
