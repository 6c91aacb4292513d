"""Example rows kept with a saved model: a few training rows, as a request would send them.

``save_model(..., examples=table)`` writes the first rows of ``table`` that a server would
accept (every input of the signature, values of the input's type, a pinned domain's values)
to ``conveyor_examples.json`` next to the manifest. ``conveyor serve`` shows them at
``GET /v1/models/{name}`` and ``conveyor smoke-test`` sends them after a deployment. A model
saved without them (older models) has no file; :func:`read_examples` then gives ``None``.
"""

from __future__ import annotations

import datetime
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from conveyor.errors import ArtifactError

__all__ = ["EXAMPLES_FILE", "EXAMPLE_ROWS", "example_rows", "read_examples", "write_examples"]

EXAMPLES_FILE = "conveyor_examples.json"
EXAMPLE_ROWS = 5
"""Rows kept at most."""
_INT64 = (-(2**63), 2**63 - 1)


def example_rows(
    data: Any, inputs: Sequence[Mapping[str, Any]], limit: int = EXAMPLE_ROWS
) -> list[dict[str, Any]]:
    """The first ``limit`` rows of ``data`` (anything ``LoadedModel.predict`` takes) that fit
    the signature ``inputs``, as JSON-ready dicts of exactly those inputs, in their order.

    A row is skipped when a value does not fit its input (a string outside the pinned
    domain, a number that is not finite, a type the input does not take): a server would
    refuse it. Missing values (``None``) are kept, as in training.

    Example:
        >>> inputs = [{"name": "x", "type": "FLOAT"}, {"name": "c", "type": "STRING",
        ...           "values": ["a", "b"]}]
        >>> example_rows({"x": [0.5, 1.0, None], "c": ["a", "z", "b"], "y": [1, 0, 1]}, inputs)
        [{'x': 0.5, 'c': 'a'}, {'x': None, 'c': 'b'}]
    """
    from conveyor.model.rows import as_table

    table = as_table(data)
    names = [str(item["name"]) for item in inputs]
    if any(name not in table.column_names for name in names):
        return []
    rows: list[dict[str, Any]] = []
    for batch in table.select(names).to_batches(max_chunksize=1000):
        for raw in batch.to_pylist():
            row = _fit(raw, inputs)
            if row is not None:
                rows.append(row)
                if len(rows) >= limit:
                    return rows
    return rows


def _fit(raw: Mapping[str, Any], inputs: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    row: dict[str, Any] = {}
    for item in inputs:
        name = str(item["name"])
        value = _value(raw.get(name), str(item["type"]), item.get("values"))
        if value is _REFUSED:
            return None
        row[name] = value
    return row


_REFUSED = object()


def _value(value: Any, kind: str, domain: Sequence[Any] | None) -> Any:
    if value is None:
        return None
    if kind == "BOOL":
        return value if isinstance(value, bool) else _REFUSED
    if kind == "INT":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return value if ok and _INT64[0] <= value <= _INT64[1] else _REFUSED
    if kind == "FLOAT":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _REFUSED
        return float(value) if math.isfinite(value) else None  # NaN is a missing value
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if not isinstance(value, str):
        return _REFUSED
    return value if domain is None or value in domain else _REFUSED


def write_examples(path: str, rows: Sequence[Mapping[str, Any]]) -> str | None:
    """Write ``rows`` as the model folder's example rows; nothing (None) when there are none.

    Returns:
        The file written, or None.
    """
    if not rows:
        return None
    file = os.path.join(path, EXAMPLES_FILE)
    with open(file, "w", encoding="utf-8") as fh:
        json.dump({"rows": [dict(r) for r in rows]}, fh, indent=1, allow_nan=False)
    return file


def read_examples(path: str) -> list[dict[str, Any]] | None:
    """The example rows kept in the model folder at ``path``; None when it has none (a model
    saved before example rows were kept, or saved without training rows).

    Raises:
        ArtifactError: the file is there but is not a JSON object with a list of row objects.
    """
    file = os.path.join(path, EXAMPLES_FILE)
    if not os.path.exists(file):
        return None
    try:
        with open(file, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"Cannot read the example rows {file!r}: {exc}") from exc
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ArtifactError(
            f"The example rows {file!r} are not a JSON object {{'rows': [{{...}}, ...]}}; "
            "save the model again to rewrite them"
        )
    return rows
