"""Every built-in metadata store passes the public conformance checks of conveyor.testing."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.metadata import MetadataStore, connect
from conveyor.testing.metadata import Check, StoreFactory, metadata_store_checks

CHECKS = list(metadata_store_checks())


@pytest.fixture(
    params=[
        "sqlite-memory",
        "sqlite-file",
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ]
)
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Opens stores of one backend; the file and PostgreSQL stores share data across calls."""
    if request.param == "sqlite-memory":
        uri = "sqlite://"
    elif request.param == "sqlite-file":
        uri = f"sqlite:///{tmp_path / 'metadata.db'}"
    else:
        uri = request.getfixturevalue("pg_uri")

    def open_store() -> MetadataStore:
        return connect(uri)

    return open_store


@pytest.mark.parametrize(("name", "check"), CHECKS, ids=[name for name, _ in CHECKS])
def test_metadata_store_passes_check(factory: StoreFactory, name: str, check: Check) -> None:
    check(factory)
