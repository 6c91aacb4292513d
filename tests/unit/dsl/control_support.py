"""Helpers of the control-flow DSL tests (a plain module: no other folder's conftest can
shadow it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conveyor.errors import DefinitionError
from conveyor.ir import PipelineSpec, dumps, loads

Check = Callable[[DefinitionError, str], None]
"""The type of the ``points_at`` fixture (tests/unit/dsl/conftest.py)."""


def built(p: Any) -> PipelineSpec:
    """The pipeline's IR, after checking it survives a round trip through JSON."""
    spec: PipelineSpec = p.spec
    assert loads(dumps(spec)) == spec
    return spec


def definition_error(p: Any) -> DefinitionError:
    """The error building the pipeline raises."""
    with pytest.raises(DefinitionError) as info:
        _ = p.spec
    return info.value
