"""Every built-in artifact store passes the public conformance checks."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from conveyor.storage import LocalArtifactStore, open_store
from conveyor.testing.storage import artifact_store_checks


@pytest.fixture(params=["local", "file-url", "memory"])
def factory(request: pytest.FixtureRequest, tmp_path: Path):
    kind = request.param
    if kind == "local":
        return lambda: LocalArtifactStore(str(tmp_path / f"store-{uuid.uuid4().hex}"))
    if kind == "file-url":
        return lambda: open_store(f"file://{tmp_path}/store-{uuid.uuid4().hex}")
    return lambda: open_store(f"memory://cv-{uuid.uuid4().hex}", scratch=str(tmp_path / "scratch"))


@pytest.mark.parametrize(("name", "check"), list(artifact_store_checks()))
def test_artifact_store_conformance(factory, name, check):
    check(factory)
