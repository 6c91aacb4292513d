"""The bundled transform applied to plain Python columns, without Arrow: the fast path of
serving requests, where building Arrow arrays and running Arrow kernels per feature costs more
than the model itself.

:func:`columns_matrix` gives exactly the matrix that :meth:`FittedTransform.matrix` gives for
the same columns (the same float64 operations in the same order), or ``None`` when it cannot
promise that, and the caller takes the Arrow path: a user ``preprocessing_fn``, a step kind or
input type it does not cover, an integer that a float64 cannot hold exactly, a string that is
not valid UTF-8 (a lone surrogate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Any

import numpy as np

from conveyor.model.transform import FittedTransform, _stable_hash

__all__ = ["columns_matrix"]

_NUMERIC_KINDS = ("scale", "bucketize", "impute")
_STRING_KINDS = ("onehot", "ordinal", "hash")
_EXACT = 2**53  # the largest integer magnitude a float64 holds exactly


def columns_matrix(
    transform: FittedTransform, columns: Mapping[str, Sequence[Any]], types: Mapping[str, str]
) -> np.ndarray | None:
    """The transformed features of ``columns`` (input name -> values of the logical type in
    ``types``, ``None`` for missing; checked as :func:`conveyor.serve.requests.columns_of`
    checks them), column-major float64; ``None`` when only the Arrow path can say.

    Example:
        >>> columns_matrix(fitted, {"age": [39, None]}, {"age": "INT"})  # doctest: +SKIP
        array([[ 0.03], [ 0.  ]])
    """
    if transform.preprocessing_fn is not None or not columns:
        return None
    rows = len(next(iter(columns.values())))
    width = sum(len(step.outputs) for step in transform.steps)
    out = np.zeros((rows, width), dtype=np.float64, order="F")
    start = 0
    for step in transform.steps:
        values, type_ = columns.get(step.feature), types.get(step.feature)
        if values is None or len(values) != rows:
            return None
        if step.kind in _NUMERIC_KINDS and type_ in ("FLOAT", "INT"):
            if not _numbers(step.kind, step.params, values, out, start):
                return None
        elif step.kind in _STRING_KINDS and type_ == "STRING":
            if not _strings(step.kind, step.params, values, out, start):
                return None
        else:
            return None
        start += len(step.outputs)
    return out


def _numbers(
    kind: str, p: Mapping[str, Any], values: Sequence[Any], out: np.ndarray, at: int
) -> bool:
    x = np.array(values, dtype=np.float64)  # None becomes NaN
    if np.any(np.abs(x) > _EXACT) and any(type(v) is int and abs(v) > _EXACT for v in values):
        return False  # how such an integer becomes a float is the Arrow path's to say
    x = np.where(np.isfinite(x), x, p["impute"])
    if kind == "scale":
        out[:, at] = (x - p["mean"]) / p["std"]
    elif kind == "bucketize":
        out[:, at] = np.searchsorted(np.asarray(p["boundaries"]), x, side="right")
    else:
        out[:, at] = x
    return True


def _strings(
    kind: str, p: Mapping[str, Any], values: Sequence[Any], out: np.ndarray, at: int
) -> bool:
    if kind == "hash":
        for row, v in enumerate(values):
            if v is not None:
                try:
                    out[row, at + _stable_hash(v, p["buckets"])] = 1.0
                except UnicodeEncodeError:
                    return False
        return True
    vocabulary: dict[str | None, int] = {v: i for i, v in enumerate(p["vocabulary"])}
    index = np.fromiter(map(vocabulary.get, values, repeat(-1)), np.int64, len(values))
    for row in np.flatnonzero(index < 0).tolist():  # missing or unseen: Arrow must read it too
        if values[row] is not None and not _utf8(values[row]):
            return False
    if kind == "ordinal":  # 0 is out-of-vocabulary (unseen or missing)
        out[:, at] = index + 1
        return True
    size = len(p["vocabulary"])
    out[np.arange(len(values)), at + np.where(index >= 0, index, size)] = 1.0
    return True


def _utf8(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
