"""Every built-in metadata store passes the model registry checks of conveyor.testing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conveyor.testing._metadata_support import StoreFactory
from conveyor.testing.registry import model_registry_checks

CHECKS = list(model_registry_checks())


@pytest.mark.parametrize(("name", "check"), CHECKS, ids=[name for name, _ in CHECKS])
def test_registry_passes_check(
    factory: StoreFactory, name: str, check: Callable[[StoreFactory], None]
) -> None:
    check(factory)
