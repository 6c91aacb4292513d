"""The model's answer to a validated predict request, as plain JSON values.

Two paths give the same answer: the fast one builds the features straight from the request's
Python values (:func:`conveyor.model.columns.columns_matrix`); the plain one builds Arrow
arrays and runs the bundled transform on them, and is taken whenever the fast one cannot
promise the same matrix (then it also gives the same errors as before the fast path existed).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from conveyor.model.columns import columns_matrix
from conveyor.model.saved import LoadedModel

__all__ = ["predict_columns"]

_ARROW = {"FLOAT": pa.float64(), "INT": pa.int64(), "BOOL": pa.bool_()}


def predict_columns(
    model: LoadedModel, columns: dict[str, list[Any]], *, fast: bool = True
) -> dict[str, Any]:
    """The answer of ``model`` for validated ``columns``: predictions, and probabilities
    for a classifier (keyed by class label), as plain JSON values. ``fast=False`` takes the
    Arrow path whatever the request (the reference the fast path is tested against)."""
    types = {str(i["name"]): str(i["type"]) for i in model.signature["inputs"]}
    x = columns_matrix(model.transform, columns, types) if fast else None
    if x is not None:
        scores, proba = model.matrix_scores(x)
    else:
        table = pa.table(
            {n: pa.array(v, type=_ARROW.get(types[n], pa.string())) for n, v in columns.items()}
        )
        scores, proba = model.predict_scores(table)  # one pass of the transform for both
    if model.manifest.task == "classification":
        scores = np.asarray(model.classes, dtype=object)[scores]
    answer: dict[str, Any] = {"predictions": _plain(scores)}
    if proba is not None:
        labels = [str(c) for c in model.classes or []]
        answer["probabilities"] = [dict(zip(labels, row, strict=True)) for row in proba.tolist()]
    return answer


def _plain(values: np.ndarray) -> list[Any]:
    return [v.item() if isinstance(v, np.generic) else v for v in values.tolist()]
