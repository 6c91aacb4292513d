"""Pipeline parameter resolution before a run."""

from __future__ import annotations

import pytest

from conveyor.errors import DefinitionError
from conveyor.execution.params import parse_cli_value, resolve_parameters
from conveyor.ir import MISSING, ParameterSpec, PipelineSpec


def spec(**params: ParameterSpec) -> PipelineSpec:
    return PipelineSpec(name="p", parameters=params)


def test_defaults_and_overrides_are_typed():
    s = spec(
        C=ParameterSpec("number", default=1.0),
        n=ParameterSpec("integer", default=3),
        name=ParameterSpec("string", default="x"),
        flags=ParameterSpec("array", default=[]),
    )
    assert resolve_parameters(s, {"C": "0.5", "n": 7, "flags": "[1, 2]"}) == {
        "C": 0.5,
        "n": 7,
        "name": "x",
        "flags": [1, 2],
    }
    assert resolve_parameters(s, {"C": 2})["C"] == 2.0


def test_string_parameter_keeps_text_that_looks_like_json():
    s = spec(tag=ParameterSpec("string", default="a"))
    assert resolve_parameters(s, {"tag": 123}) == {"tag": "123"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"C": "high"}, "expects number"),
        ({"n": 1.5}, "expects integer"),
        ({"nope": 1}, "has no parameter"),
        ({}, "needs parameter 'required'"),
    ],
)
def test_bad_parameters_are_definition_errors(overrides, message):
    s = spec(
        C=ParameterSpec("number", default=1.0),
        n=ParameterSpec("integer", default=1),
        required=ParameterSpec("string", default=MISSING),
    )
    if "required" not in message:
        overrides = {"required": "x", **overrides}
    with pytest.raises(DefinitionError, match=message):
        resolve_parameters(s, overrides)


def test_cli_values_parse_as_json_when_they_can():
    assert parse_cli_value("0.5") == 0.5
    assert parse_cli_value("true") is True
    assert parse_cli_value("[1,2]") == [1, 2]
    assert parse_cli_value("data.csv") == "data.csv"


def test_literal_parameters_only_take_their_values():
    s = spec(mode=ParameterSpec("string", default="fast", enum=("fast", "exact")))
    assert resolve_parameters(s, {"mode": "exact"}) == {"mode": "exact"}
    with pytest.raises(DefinitionError, match=r"must be one of \['fast', 'exact'\]"):
        resolve_parameters(s, {"mode": "slow"})
