"""Signature annotations: ``Input[T]``/``Output[T]`` artifacts and JSON-typed parameters."""

from __future__ import annotations

import json
import types
import typing
from typing import Annotated, Any, TypeVar, Union

from conveyor.types.artifacts import Artifact, is_artifact_type

__all__ = [
    "Input",
    "Output",
    "json_literal_matches",
    "json_type_of",
    "json_type_of_values",
    "json_value_matches",
    "split_annotation",
]

T = TypeVar("T")


class _InputMarker:
    """Marks an artifact the component reads."""

    def __repr__(self) -> str:
        return "Input"


class _OutputMarker:
    """Marks an artifact the component writes."""

    def __repr__(self) -> str:
        return "Output"


INPUT_MARKER = _InputMarker()
OUTPUT_MARKER = _OutputMarker()

Input = Annotated[T, INPUT_MARKER]
"""An artifact the component reads: ``data: Input[Dataset]``."""

Output = Annotated[T, OUTPUT_MARKER]
"""An artifact the component writes: ``model: Output[Model]``."""


def split_annotation(annotation: Any) -> tuple[str, Any]:
    """Classify an annotation as ``("input", cls)``, ``("output", cls)`` or ``("param", tp)``.

    For ``Input[list[T]]`` (fan-in) the class is ``list[T]``.
    """
    if typing.get_origin(annotation) is Annotated:
        inner, *extras = typing.get_args(annotation)
        for extra in extras:
            if extra is INPUT_MARKER:
                return "input", inner
            if extra is OUTPUT_MARKER:
                return "output", inner
        return split_annotation(inner)
    if is_artifact_type(annotation):
        # A bare artifact class means an input, as in KFP.
        return "input", annotation
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            kind, inner = split_annotation(args[0])
            if kind == "input":  # Input[T] | None: an optional artifact input
                return kind, inner
    return "param", annotation


def artifact_class(tp: Any) -> tuple[type[Artifact], bool] | None:
    """``(cls, is_list)`` for ``T`` or ``list[T]`` where T is an artifact class, else None."""
    if is_artifact_type(tp):
        return tp, False
    if typing.get_origin(tp) is list:
        args = typing.get_args(tp)
        if len(args) == 1 and is_artifact_type(args[0]):
            return args[0], True
    return None


_SIMPLE: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    tuple: "array",
    dict: "object",
    Any: "any",
}


def json_type_of(tp: Any) -> tuple[str, bool] | None:
    """``(json_type, nullable)`` for a Python annotation, or None if it is not JSON-typed."""
    if tp in _SIMPLE:
        return _SIMPLE[tp], False
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(tp))
        kind = _common_type({json_type_of(a) for a in args})
        return (kind[0], nullable or kind[1]) if kind else None
    if origin in (list, tuple, set, frozenset):
        # Items must be JSON too: ``list[Dataset]`` is a fan-in input, not an array parameter.
        items = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return ("array", False) if all(json_type_of(a) for a in items) else None
    if origin is dict:
        key_value = typing.get_args(tp)
        if key_value and (key_value[0] not in (str, Any) or json_type_of(key_value[1]) is None):
            return None  # JSON object keys are strings
        return "object", False
    if origin is typing.Literal:
        return _common_type({json_type_of(type(v)) for v in typing.get_args(tp)})
    return None


def json_type_of_values(values: list[Any]) -> str | None:
    """The JSON type all non-null ``values`` share (``number`` for ints and floats), else None."""
    kind = _common_type({json_type_of(type(v)) for v in values if v is not None})
    return kind[0] if kind else None


def _common_type(kinds: set[tuple[str, bool] | None]) -> tuple[str, bool] | None:
    """The one kind in ``kinds``; ``number`` for integers and numbers together; else None."""
    if kinds == {("integer", False), ("number", False)}:
        return "number", False
    return next(iter(kinds)) if len(kinds) == 1 else None


def literal_values(tp: Any) -> tuple[Any, ...] | None:
    """The allowed values of ``Literal[...]`` (or ``Literal[...] | None``), else None."""
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return typing.get_args(tp)
    if origin in (Union, types.UnionType):
        found = [literal_values(a) for a in typing.get_args(tp) if a is not type(None)]
        if found and all(v is not None for v in found):
            return tuple(v for values in found if values is not None for v in values)
    return None


def json_value_matches(value: Any, json_type: str, nullable: bool = False) -> bool:
    """Whether a Python value is valid for a JSON parameter type."""
    if value is None:
        return nullable or json_type == "any"
    if json_type == "any":
        return _is_json(value)
    if json_type == "boolean":
        return isinstance(value, bool)
    if json_type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if json_type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if json_type == "string":
        return isinstance(value, str)
    if json_type == "array":
        return isinstance(value, list | tuple) and _is_json(list(value))
    if json_type == "object":
        return isinstance(value, dict) and _is_json(value)
    return False


def json_literal_matches(value: Any, json_type: str, nullable: bool = False) -> bool:
    """Like :func:`json_value_matches`, for a value written into the IR (a default or a literal
    argument): NaN and infinity are refused too, since JSON has no form for them."""
    return json_value_matches(value, json_type, nullable) and _is_json(value)


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def coerce_value(value: Any, json_type: str) -> Any:
    """Normalise a valid value for its JSON type (tuples become lists, ints become floats)."""
    if json_type == "array" and isinstance(value, tuple):
        return list(value)
    if json_type == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
