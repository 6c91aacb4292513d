"""Batch scoring: a saved model's predictions for every row of a file, in bounded memory.

One function, :func:`score_file`, behind ``conveyor predict`` and the ``bulk_inferrer``
component. The input (CSV, Parquet or JSON Lines; a local path or an fsspec URL) is read in
chunks of ``chunk_rows`` rows; chunks are scored on ``workers`` threads (the transform and the
estimators release the GIL in their numeric work) while the rows keep their order; the output
is written chunk by chunk to a temporary name and renamed into place at the end, so memory
stays flat for files larger than RAM and a failure leaves nothing at the output path.

The output has the id column (when given, typed as in the input), ``prediction`` (typed: the
label's type for classifiers, float for regressors) and, for classifiers,
``probability_<class>`` for every class.

Example:
    >>> result = score_file("model/", "in.parquet", "out.csv", id_column="id")  # doctest: +SKIP
    >>> result.rows  # doctest: +SKIP
    1000000
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from conveyor.data.columns import feature_type
from conveyor.data.csv_options import CsvOptions
from conveyor.data.files import detect_format
from conveyor.data.model import FeatureType
from conveyor.errors import ArtifactError
from conveyor.model.batch_io import AtomicSink, iter_chunks, total_rows
from conveyor.model.saved import LoadedModel, load_model

__all__ = ["PREDICTION", "PROBABILITY_PREFIX", "ScoreResult", "output_schema", "score_file"]

PREDICTION = "prediction"
PROBABILITY_PREFIX = "probability_"
DEFAULT_CHUNK_ROWS = 100_000

Progress = Callable[[int, int | None], None]
"""Called after each chunk is written with the rows done and the total (None: unknown)."""


@dataclass(frozen=True)
class ScoreResult:
    """What :func:`score_file` did: rows scored, seconds taken, the output and its format."""

    rows: int
    seconds: float
    output: str
    format: str
    columns: list[str]

    @property
    def rows_per_second(self) -> float:
        """Throughput of the whole call (reading, scoring and writing)."""
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def _model_inputs(model: LoadedModel) -> dict[str, FeatureType]:
    return {item["name"]: FeatureType(item["type"]) for item in model.signature["inputs"]}


def output_schema(model: LoadedModel, id_field: pa.Field | None = None) -> pa.Schema:
    """The columns :func:`score_file` writes for ``model`` (with the id column first)."""
    fields = [] if id_field is None else [id_field]
    if model.manifest.task == "regression":
        return pa.schema([*fields, pa.field(PREDICTION, pa.float64())])
    classes = pa.array(model.classes or [])
    fields.append(pa.field(PREDICTION, classes.type))
    if hasattr(model.estimator, "predict_proba"):
        fields += [pa.field(_prob_name(c), pa.float64()) for c in model.classes or []]
    return pa.schema(fields)


def _prob_name(value: Any) -> str:
    return f"{PROBABILITY_PREFIX}{value}"


def score_file(
    model: LoadedModel | str,
    source: str,
    output: str,
    *,
    id_column: str | None = None,
    input_format: str = "auto",
    output_format: str = "auto",
    csv: CsvOptions | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ScoreResult:
    """Score every row of ``source`` with ``model`` and write the predictions to ``output``.

    Args:
        model: a loaded model or its folder.
        source: the rows: a CSV, Parquet or JSON Lines file (local path or fsspec URL).
        output: where to write; its format by extension unless ``output_format`` says.
        id_column: a column of ``source`` copied to the output, to join predictions back.
        input_format, output_format: ``auto`` (by extension), ``csv``, ``parquet``, ``jsonl``.
        csv: how to read a CSV input (delimiter, missing-value markers, encoding, ...).
        chunk_rows: rows read, scored and written at a time (memory grows with it and with
            ``workers``, not with the file).
        workers: chunks scored at once (default: every core).
        progress: called after each chunk with rows done and total rows (when known).

    Raises:
        ArtifactError: the model, the input or the output cannot be used (which file, which
            column or row, and how to fix it); nothing is left at ``output`` then.
        ValueError: a format cannot be told from an extension, or an argument is out of range.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be 1 or more, got {chunk_rows}")
    workers = max(1, workers or os.cpu_count() or 1)
    loaded = model if isinstance(model, LoadedModel) else load_model(model)
    in_fmt = detect_format(source, input_format)
    try:
        out_fmt = detect_format(output, output_format)
    except ValueError:
        raise ValueError(
            f"Cannot tell the format of the output {output!r} from its extension: name it "
            ".csv, .parquet or .jsonl, or give output_format (--output-format)"
        ) from None
    types = _model_inputs(loaded)
    needed = list(types)
    if id_column is not None and id_column not in types:
        needed.insert(0, id_column)
    schema = output_schema(loaded)
    if id_column is not None and id_column in schema.names:
        raise ValueError(
            f"The id column {id_column!r} has the name of an output column; rename it in the "
            "input, or leave --id-column out"
        )
    started = time.perf_counter()
    total = total_rows(source, in_fmt)
    if progress is not None:
        progress(0, total)
    chunks = iter_chunks(source, in_fmt, needed, types, chunk_rows=chunk_rows, csv=csv)
    with AtomicSink(output, out_fmt) as sink, ThreadPoolExecutor(workers) as pool:
        pending: deque[Future[pa.Table]] = deque()
        offset = 0
        for chunk in chunks:
            pending.append(pool.submit(_score, loaded, chunk, types, id_column, source, offset))
            offset += chunk.num_rows
            if len(pending) > workers:
                _write(sink, pending.popleft(), progress, total)
        while pending:
            _write(sink, pending.popleft(), progress, total)
        if id_column is not None and sink.rows == 0:
            schema = pa.schema([pa.field(id_column, pa.string()), *schema])
        sink.commit(schema)
    return ScoreResult(
        rows=sink.rows,
        seconds=time.perf_counter() - started,
        output=output,
        format=out_fmt,
        columns=schema.names if id_column is None else [id_column, *output_schema(loaded).names],
    )


def _write(
    sink: AtomicSink, future: Future[pa.Table], progress: Progress | None, total: int | None
) -> None:
    sink.write(future.result())
    if progress is not None:
        progress(sink.rows, total)


def _score(
    model: LoadedModel,
    chunk: pa.Table,
    types: dict[str, FeatureType],
    id_column: str | None,
    source: str,
    offset: int,
) -> pa.Table:
    features = conform(chunk.select(list(types)), types, source, offset)
    values, proba = model.predict_scores(features)
    columns: dict[str, Any] = {}
    if id_column is not None:
        columns[id_column] = chunk.column(id_column)
    if model.manifest.task == "regression":
        columns[PREDICTION] = pa.array(values, pa.float64())
    else:
        columns[PREDICTION] = pc.take(pa.array(model.classes or []), pa.array(values))
        if proba is not None:
            for i, value in enumerate(model.classes or []):
                columns[_prob_name(value)] = pa.array(np.ascontiguousarray(proba[:, i]))
    return pa.table(columns)


def conform(table: pa.Table, types: dict[str, FeatureType], source: str, offset: int) -> pa.Table:
    """``table``'s columns as the model takes them: missing-only columns typed, numbers in a
    text column parsed, labels of other types as text.

    Raises:
        ArtifactError: a column holds values of a type the model cannot take, naming the file,
            the column, the first bad row (counting data rows from 1) and its value.
    """
    for name, wanted in types.items():
        col = table.column(name)
        have = feature_type(col.type)
        if pa.types.is_null(col.type):
            target = {FeatureType.INT: pa.int64(), FeatureType.FLOAT: pa.float64()}
            col = pc.cast(col, target.get(wanted, pa.string()))
        elif wanted == FeatureType.STRING and have != FeatureType.STRING:
            col = pc.cast(col, pa.string())
        elif wanted in (FeatureType.INT, FeatureType.FLOAT) and have == FeatureType.STRING:
            col = _parse_numbers(col, name, wanted, source, offset)
        elif wanted in (FeatureType.INT, FeatureType.FLOAT) and have not in (
            FeatureType.INT,
            FeatureType.FLOAT,
        ):
            raise _type_error(source, name, wanted, have, offset, None)
        else:
            continue
        table = table.set_column(table.schema.get_field_index(name), name, col)
    return table


def _parse_numbers(
    col: pa.ChunkedArray, name: str, wanted: FeatureType, source: str, offset: int
) -> pa.ChunkedArray:
    text = pc.utf8_trim_whitespace(col)
    try:
        return pc.cast(text, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    values = text.to_pylist()
    for i, value in enumerate(values):
        try:
            if value is not None:
                float(value)
        except ValueError:
            raise _type_error(source, name, wanted, FeatureType.STRING, offset + i, value) from None
    raise _type_error(source, name, wanted, FeatureType.STRING, offset, None)


def _type_error(
    source: str, name: str, wanted: FeatureType, have: FeatureType, row: int, value: Any
) -> ArtifactError:
    where = f"row {row + 1} holds {value!r}" if value is not None else f"it is {have.value}"
    return ArtifactError(
        f"{source}: column {name!r}: {where}, but the model takes {name!r} as {wanted.value}. "
        "Fix the value or leave it empty (a missing value), or give the column the type the "
        "model was trained on"
    )
