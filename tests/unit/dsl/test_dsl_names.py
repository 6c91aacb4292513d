"""Pipeline and component names that would become paths outside their folder are refused
where they are written."""

from __future__ import annotations

import pytest

from conveyor import component, pipeline
from conveyor.errors import DefinitionError, InvalidNameError


def test_pipeline_refuses_a_name_that_leaves_its_folder() -> None:
    with pytest.raises(InvalidNameError) as info:

        @pipeline(name="../x")
        def escape() -> None: ...

    message = str(info.value)
    assert "pipeline name '../x' is not a valid name" in message
    assert "@pipeline(name=...)" in message
    assert info.value.source_file == __file__


def test_component_refuses_a_name_that_leaves_its_folder() -> None:
    with pytest.raises(InvalidNameError) as info:

        @component(name="../../x")
        def escape(a: int = 1) -> int:
            return a

    assert "component name '../../x' is not a valid name" in str(info.value)
    assert info.value.lineno is not None


def test_component_refuses_a_name_longer_than_file_names_allow() -> None:
    with pytest.raises(InvalidNameError, match="is too long: 300 bytes"):

        @component(name="c" * 300)
        def long(a: int = 1) -> int:
            return a


def test_invalid_name_is_a_definition_error_and_a_value_error() -> None:
    assert issubclass(InvalidNameError, DefinitionError)
    assert issubclass(InvalidNameError, ValueError)
