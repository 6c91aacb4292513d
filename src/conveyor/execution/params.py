"""Pipeline parameter values: defaults, overrides and type checks before a run starts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from conveyor.dsl.annotations import coerce_value, json_value_matches
from conveyor.errors import DefinitionError
from conveyor.ir.spec import PipelineSpec

__all__ = ["parse_cli_value", "resolve_parameters"]


def parse_cli_value(text: str) -> Any:
    """A ``--param k=v`` value: JSON if it parses (``0.5``, ``true``, ``[1,2]``), else text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def resolve_parameters(spec: PipelineSpec, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge ``overrides`` over the pipeline's defaults and check every value's type.

    Raises:
        DefinitionError: an unknown parameter, a missing required one, or a wrong type.
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(spec.parameters))
    if unknown:
        raise DefinitionError(
            f"Pipeline {spec.name!r} has no parameter(s) {unknown!r}; "
            f"its parameters are {sorted(spec.parameters)!r}"
        )
    values: dict[str, Any] = {}
    for name, pspec in spec.parameters.items():
        if name in overrides:
            value = overrides[name]
            if isinstance(value, str) and pspec.type not in ("string", "any"):
                value = parse_cli_value(value)
            if pspec.type == "string" and not isinstance(value, str) and value is not None:
                value = json.dumps(value) if isinstance(value, list | dict) else str(value)
            if not json_value_matches(value, pspec.type, pspec.nullable):
                raise DefinitionError(
                    f"Parameter {name!r} of pipeline {spec.name!r} expects {pspec.type}, got "
                    f"{value!r}. Pass e.g. --param {name}={_example(pspec.type)}"
                )
            if pspec.enum is not None and value not in pspec.enum:
                raise DefinitionError(
                    f"Parameter {name!r} of pipeline {spec.name!r} must be one of "
                    f"{list(pspec.enum)!r}, got {value!r}"
                )
            values[name] = coerce_value(value, pspec.type)
        elif pspec.has_default:
            values[name] = pspec.default
        else:
            raise DefinitionError(
                f"Pipeline {spec.name!r} needs parameter {name!r} ({pspec.type}). "
                f"Pass --param {name}={_example(pspec.type)}"
            )
    return values


def _example(json_type: str) -> str:
    return {
        "string": "text",
        "integer": "3",
        "number": "0.5",
        "boolean": "true",
        "array": "'[1,2]'",
        "object": "'{\"k\":1}'",
    }.get(json_type, "VALUE")
