"""Every built-in metadata store passes the model registry checks of conveyor.testing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conveyor.metadata import MetadataStore, connect
from conveyor.testing._metadata_support import StoreFactory
from conveyor.testing.registry import model_registry_checks

CHECKS = list(model_registry_checks())


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
def test_registry_passes_check(
    factory: StoreFactory, name: str, check: Callable[[StoreFactory], None]
) -> None:
    check(factory)
