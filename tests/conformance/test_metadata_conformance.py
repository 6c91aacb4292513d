"""Every built-in metadata store passes the public conformance checks of conveyor.testing."""

from __future__ import annotations

import pytest

from conveyor.testing.metadata import Check, StoreFactory, metadata_store_checks

CHECKS = list(metadata_store_checks())


@pytest.mark.parametrize(("name", "check"), CHECKS, ids=[name for name, _ in CHECKS])
def test_metadata_store_passes_check(factory: StoreFactory, name: str, check: Check) -> None:
    check(factory)
