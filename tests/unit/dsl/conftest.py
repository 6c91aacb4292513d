"""Fixtures for DSL tests: check that an error points at a marked line of the test file."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from conveyor.errors import DefinitionError


@pytest.fixture
def points_at(request: pytest.FixtureRequest) -> Callable[[DefinitionError, str], None]:
    """Assert that ``error`` names this test file and the line holding ``# line: MARKER``."""
    path = str(request.path)
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()

    def check(error: DefinitionError, marker: str) -> None:
        found = [n for n, text in enumerate(lines, 1) if text.endswith(f"# line: {marker}")]
        assert len(found) == 1, f"marker {marker!r} must appear exactly once"
        assert error.source_file is not None
        assert os.path.samefile(error.source_file, path)
        assert error.lineno == found[0]
        assert str(error).endswith(f"at {error.source_file}:{found[0]}")

    return check
