"""The model's answer to a validated predict request, as plain JSON values.

Two paths give the same answer: the fast one builds the features straight from the request's
Python values (:func:`conveyor.model.columns.columns_matrix`); the plain one builds Arrow
arrays and runs the bundled transform on them, and is taken whenever the fast one cannot
promise the same matrix (then it also gives the same errors as before the fast path existed).
"""

from __future__ import annotations

import math
from itertools import chain, repeat
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from conveyor.model.columns import columns_matrix
from conveyor.model.saved import LoadedModel

__all__ = ["INLINE_CELLS", "AnswerResponse", "answer", "predict_columns"]

INLINE_CELLS = 20_000
"""A request of at most this many values (1,000 rows of 20 inputs: a few milliseconds of
work) is answered on the event loop: the hop to a worker thread and back costs two wake-ups,
which on a loaded machine can take longer than the work, and the work holds the interpreter
lock in either place. A larger request is answered in a worker thread."""

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
        answer["probabilities"] = _by_label([str(c) for c in model.classes or []], proba)
    return answer


def _by_label(labels: list[str], proba: np.ndarray) -> list[dict[str, float]]:
    """One ``{label: probability}`` per row (two labels: a dict display, twice as fast)."""
    if len(labels) == 2 and proba.ndim == 2 and proba.shape[1] == 2:
        a, b = labels
        return [{a: p, b: q} for p, q in zip(*proba.T.tolist(), strict=True)]
    return list(map(dict, map(zip, repeat(labels), proba.tolist())))


def _plain(values: np.ndarray) -> list[Any]:
    plain: list[Any] = values.tolist()  # Python scalars, but objects stay what they were
    if values.dtype != object:
        return plain
    return [v.item() if isinstance(v, np.generic) else v for v in plain]


async def answer(model: LoadedModel, columns: dict[str, list[Any]]) -> dict[str, Any]:
    """:func:`predict_columns`, inline for a small request, in a worker thread otherwise."""
    if sum(len(v) for v in columns.values()) <= INLINE_CELLS:
        return predict_columns(model, columns)
    return await run_in_threadpool(predict_columns, model, columns)


class AnswerResponse(JSONResponse):
    """A :class:`JSONResponse` rendered by orjson: the same JSON value, several times faster.
    Content holding a float that JSON cannot hold (NaN, infinity) goes to the standard
    encoder, which refuses it as before."""

    def render(self, content: Any) -> bytes:
        if _finite(content):
            return orjson.dumps(content)
        return super().render(content)


def _finite(content: Any) -> bool:
    """Whether the predictions and probabilities of an answer are all finite: a NaN or an
    infinity makes their sum NaN or infinite (so does an overflow, which only sends the
    answer to the standard encoder, where it is rendered all the same)."""
    try:
        predictions = content.get("predictions", ())
        total = sum(v for v in predictions if type(v) is float) if predictions else 0.0
        rows = content.get("probabilities", ())
        total += sum(chain.from_iterable(map(dict.values, rows)))
    except (AttributeError, TypeError):
        return False
    return math.isfinite(total)
