"""Prediction requests: parse the JSON body and check it against the model's signature.

A body is ``{"rows": [{feature: value, ...}, ...]}`` or ``{"columns": {feature: [...]}}``.
Every input of the signature must be given (``null`` is a missing value, imputed as in
training), no other field may be, each value must have the input's logical type, and a
string input whose training schema pinned a domain must take one of its values. Problems are
collected, not stopped at: each names its row, its field and what was expected.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import eq, itemgetter
from typing import Any

import orjson

__all__ = ["BadRequest", "Problem", "columns_of", "parse_json"]

MAX_PROBLEMS = 100
"""Problems reported at most (a request with more stops being checked there)."""
_INT64 = (-(2**63), 2**63 - 1)
_NONE = type(None)
_DIGITS = bytes(48 if 48 <= c <= 57 else 32 for c in range(256))  # a digit: 0, else a space
_LONG_NUMBER = b"0" * 19
"""19 digits in a row: an integer orjson may not read as the standard parser does."""


class BadRequest(Exception):
    """A body that is not a prediction request (its HTTP status and a message)."""

    def __init__(self, status: int, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = list(problems)


@dataclass(frozen=True)
class Problem:
    """One field-level problem: the row (``None``: the whole column), the field, the message."""

    row: int | None
    field: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"row": self.row, "field": self.field, "message": self.message}


def _constant(name: str) -> Any:
    raise BadRequest(400, f"The body holds {name}, which is not JSON; send numbers or null")


def parse_json(body: bytes, *, fast: bool = True) -> Any:
    """The JSON value of ``body`` (``fast=False``: the standard parser alone, the reference
    the fast path is tested against).

    Raises:
        BadRequest: 400 for an empty body, bytes that are not UTF-8 JSON, NaN or Infinity,
            numbers too long to read, or nesting deeper than the parser's recursion limit.
    """
    if not body.strip():
        raise BadRequest(400, 'Empty body: send {"rows": [...]} or {"columns": {...}}')
    if fast and not _long_number(body):  # orjson would read such an integer as a float
        try:  # several times faster; what orjson refuses (NaN, 1e400, a lone surrogate,
            return orjson.loads(body)  # UTF-16, ...) is the standard parser's to read or refuse
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(body, parse_constant=_constant)
    except BadRequest:
        raise
    except RecursionError:  # the C parser guards its recursion: no crash, this error
        raise BadRequest(400, "The JSON is nested too deeply to read") from None
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        raise BadRequest(400, f"The body is not valid JSON: {exc}") from None


def _long_number(body: bytes) -> bool:
    """Whether ``body`` has 19 digits in a row (two passes in C: a regular expression is
    many times slower on a large body)."""
    return _LONG_NUMBER in body.translate(_DIGITS)


def columns_of(
    data: Any, inputs: Sequence[Mapping[str, Any]], *, fast: bool = True
) -> dict[str, list[Any]]:
    """The request ``data`` as columns of the signature ``inputs``, checked (column-wise
    first; value by value, for the messages, only where that finds a problem; ``fast=False``:
    value by value throughout, the reference the fast path is tested against).

    Raises:
        BadRequest: 400 when ``data`` has neither form, 422 with the field-level problems.
    """
    if not isinstance(data, dict) or len(data) != 1 or not ({"rows", "columns"} & set(data)):
        raise BadRequest(
            400, 'The body must be one JSON object: {"rows": [{...}, ...]} or {"columns": {...}}'
        )
    names = [str(i["name"]) for i in inputs]
    problems: list[Problem] = []
    if "rows" in data:
        rows = data["rows"]
        if not isinstance(rows, list) or not rows:
            raise BadRequest(400, '"rows" must be a non-empty list of objects')
        expected = set(names)
        if fast and _same_keys(rows, expected):  # the usual case: read column-wise
            if len(names) == 1:
                return _checked({names[0]: [row[names[0]] for row in rows]}, inputs, [], fast)
            values = zip(*map(itemgetter(*names), rows), strict=True)
            read = {n: list(v) for n, v in zip(names, values, strict=True)}
            return _checked(read, inputs, [], fast)
        columns: dict[str, list[Any]] = {n: [] for n in names}
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                problems.append(Problem(i, "", f"a row must be an object, got {_kind(row)}"))
                continue
            problems += [Problem(i, n, "missing field") for n in names if n not in row]
            problems += [Problem(i, k, "unknown field") for k in row if k not in columns]
            for n in names:
                columns[n].append(row.get(n))
    else:
        given = data["columns"]
        if not isinstance(given, dict):
            raise BadRequest(400, '"columns" must be an object of lists')
        problems += [Problem(None, n, "missing field") for n in names if n not in given]
        problems += [Problem(None, k, "unknown field") for k in given if k not in names]
        lengths = {len(v) for v in given.values() if isinstance(v, list)}
        bad = [k for k, v in given.items() if not isinstance(v, list)]
        problems += [Problem(None, k, "a column must be a list of values") for k in bad]
        if len(lengths) > 1 or lengths == {0}:
            raise BadRequest(400, f"Columns must be non-empty lists of one length, got {lengths}")
        if problems:
            raise BadRequest(422, "The request does not match the model's inputs", problems)
        columns = {n: list(given[n]) for n in names}
    return _checked(columns, inputs, problems, fast)


def _checked(
    columns: dict[str, list[Any]],
    inputs: Sequence[Mapping[str, Any]],
    problems: list[Problem],
    fast: bool,
) -> dict[str, list[Any]]:
    """``columns`` once every value has its input's type (else 422 with ``problems`` and the
    problems of the values, by row)."""
    for item in inputs:
        name, type_ = str(item["name"]), str(item["type"])
        domain = None if item.get("values") is None else frozenset(item["values"])
        if fast and _clean(
            columns[name], type_, domain
        ):  # one quick pass; messages only on a failure
            continue
        if type_ == "INT":  # 2.0 is the integer 2 (not on the quick pass: it takes no floats)
            columns[name] = [_whole(v) for v in columns[name]]
        for i, value in enumerate(columns[name]):
            message = _check(value, type_, domain)
            if message is not None:
                problems.append(Problem(i, name, message))
                if len(problems) >= MAX_PROBLEMS:
                    break
    if problems:
        problems.sort(key=lambda p: -1 if p.row is None else p.row)  # stable: by row, then field
        raise BadRequest(
            422, "The request does not match the model's inputs", problems[:MAX_PROBLEMS]
        )
    return columns


def _whole(value: Any) -> Any:
    """A float with no fraction in the 64-bit range as the integer it is (``3.0`` is JSON's
    ``3``, and what pandas writes for an integer column with a missing value); any other
    value as is, for the checks to judge."""
    if type(value) is float and value.is_integer() and _INT64[0] <= value <= _INT64[1]:
        return int(value)
    return value


def _same_keys(rows: list[Any], expected: set[str]) -> bool:
    """Whether every row is an object with exactly the ``expected`` fields."""
    try:
        return all(map(eq, map(dict.keys, rows), repeat(expected)))
    except TypeError:  # a row that is not an object
        return False


def _clean(values: list[Any], type_: str, domain: Collection[str] | None) -> bool:
    """Whether :func:`_check` passes every value of a column, decided column-wise."""
    kinds = set(map(type, values))
    if type_ in ("FLOAT", "INT"):
        if not kinds <= ({float, int, _NONE} if type_ == "FLOAT" else {int, _NONE}):
            return False
        if kinds == {float}:
            return all(map(math.isfinite, values))
        if float in kinds and not all(math.isfinite(v) for v in values if type(v) is float):
            return False
        if int not in kinds:
            return True
        ints = values if kinds == {int} else [v for v in values if type(v) is int]
        return _INT64[0] <= min(ints) and max(ints) <= _INT64[1]
    kinds.discard(_NONE)
    if type_ == "BOOL":
        return kinds <= {bool}
    if not kinds <= {str}:
        return False
    if domain is None:
        return True
    seen = set(values)
    seen.discard(None)
    return seen.issubset(domain)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    return "a list" if isinstance(value, list) else type(value).__name__


def _got(value: Any) -> str:
    shown = _kind(value)
    return f"got {json.dumps(value)[:60] if shown in ('str', 'int', 'float', 'bool') else shown}"


def _check(value: Any, type_: str, domain: Collection[str] | None) -> str | None:
    """Why ``value`` is not a ``type_`` value (``None``: it is, or it is missing); the message
    is built only for a value that fails (this runs once per value of a request)."""
    kind = type(value)
    if value is None:
        return None
    if type_ == "FLOAT":
        if kind is float:
            return None if math.isfinite(value) else f"expected a finite number, {_got(value)}"
        if kind is int:
            if _INT64[0] <= value <= _INT64[1]:
                return None
            return f"expected a number in float range, {_got(value)}"
        return f"expected a number, {_got(value)}"
    if type_ == "INT":
        if kind is not int:
            return f"expected an integer, {_got(value)}"
        return (
            None if _INT64[0] <= value <= _INT64[1] else f"expected a 64-bit integer, {_got(value)}"
        )
    if type_ == "BOOL":
        return None if kind is bool else f"expected true or false, {_got(value)}"
    if kind is not str:
        return f"expected a string, {_got(value)}"
    if domain is not None and value not in domain:
        values = sorted(domain)
        shown = ", ".join(json.dumps(v) for v in values[:10])
        more = f" ({len(values)} values)" if len(values) > 10 else ""
        return f"expected one of {shown}{more}, {_got(value)}"
    return None
