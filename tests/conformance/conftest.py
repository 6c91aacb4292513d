"""The stores every metadata conformance test runs on."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.metadata import MetadataStore, connect
from conveyor.testing.metadata import StoreFactory


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
