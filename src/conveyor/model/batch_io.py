"""Chunked reading and atomic writing of the files batch scoring takes and makes.

:func:`iter_chunks` streams a CSV (Conveyor's CSV reader, with its options), Parquet (row
groups, only the needed columns) or JSON Lines file as tables of at most ``chunk_rows`` rows;
:class:`AtomicSink` writes CSV, Parquet or JSON Lines to a temporary name beside the output
and renames it into place only when everything is written, so a failure never leaves a half
file at the output path. Both take local paths and fsspec URLs.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from conveyor._internal.paths import is_remote
from conveyor.data.csv_options import CsvOptions
from conveyor.data.csv_reader import TypeConflict, iter_csv_tables, open_input
from conveyor.data.model import FeatureType
from conveyor.errors import ArtifactError

__all__ = ["AtomicSink", "iter_chunks", "missing_columns_error", "total_rows"]

_JSON_BLOCK = 4 << 20


def missing_columns_error(
    path: str, missing: Sequence[str], present: Sequence[str]
) -> ArtifactError:
    """The error for a file that lacks columns the model (or ``--id-column``) needs."""
    return ArtifactError(
        f"{path}: no column(s) {list(missing)!r}; the file has {list(present)[:20]!r}. Give "
        "every input column of the model's signature (conveyor show MODEL lists them) and "
        "the id column by its exact name"
    )


def total_rows(path: str, fmt: str) -> int | None:
    """The row count of a Parquet file from its footer; None for other formats."""
    if fmt != "parquet":
        return None
    try:
        with open_input(path) as fh:
            return int(pq.ParquetFile(fh).metadata.num_rows)
    except (OSError, pa.ArrowException):
        return None


def iter_chunks(
    path: str,
    fmt: str,
    needed: Sequence[str],
    types: Mapping[str, FeatureType],
    *,
    chunk_rows: int,
    csv: CsvOptions | None = None,
) -> Iterator[pa.Table]:
    """The ``needed`` columns of ``path`` as tables of ``chunk_rows`` rows (the last fewer).

    ``types`` (column -> logical type, the model's inputs) types CSV and JSON Lines columns
    as the model takes them.

    Raises:
        ArtifactError: the file cannot be read or lacks a needed column (naming the file,
            the column, and what to do).
    """
    if fmt == "parquet":
        tables = _parquet_tables(path, needed, chunk_rows)
    elif fmt == "jsonl":
        tables = _jsonl_tables(path, needed, types)
    else:
        tables = _csv_tables(path, needed, types, csv or CsvOptions())
    yield from _rebatch(tables, chunk_rows)


def _rebatch(tables: Iterator[pa.Table], rows: int) -> Iterator[pa.Table]:
    """Tables of exactly ``rows`` rows (the last one fewer) from tables of any size."""
    pending: list[pa.Table] = []
    held = 0
    for table in tables:
        pending.append(table)
        held += table.num_rows
        while held >= rows:
            joined = pa.concat_tables(pending) if len(pending) > 1 else pending[0]
            yield joined.slice(0, rows).combine_chunks()
            rest = joined.slice(rows)
            pending, held = ([rest] if rest.num_rows else []), rest.num_rows
    if held:
        yield (pa.concat_tables(pending) if len(pending) > 1 else pending[0]).combine_chunks()


def _unreadable(path: str, exc: Exception) -> ArtifactError:
    return ArtifactError(
        f"Cannot read {path!r}: {exc}. Check the path, and give --format when the extension "
        "does not say csv, parquet or jsonl"
    )


def _parquet_tables(path: str, needed: Sequence[str], rows: int) -> Iterator[pa.Table]:
    try:
        fh = open_input(path)
        file = pq.ParquetFile(fh)
    except (OSError, pa.ArrowException) as exc:
        raise _unreadable(path, exc) from None
    with fh:
        names = file.schema_arrow.names
        missing = [n for n in needed if n not in names]
        if missing:
            raise missing_columns_error(path, missing, names)
        try:
            for batch in file.iter_batches(batch_size=rows, columns=list(needed)):
                yield pa.Table.from_batches([batch])
        except (OSError, pa.ArrowException) as exc:
            raise _unreadable(path, exc) from None


def _csv_tables(
    path: str, needed: Sequence[str], types: Mapping[str, FeatureType], options: CsvOptions
) -> Iterator[pa.Table]:
    try:
        first = next(iter_csv_tables(path, options), None)
    except (OSError, pa.ArrowException) as exc:
        raise _unreadable(path, exc) from None
    names = [] if first is None else first.column_names
    missing = [n for n in needed if n not in names]
    if missing:
        raise missing_columns_error(path, missing, names)
    del first
    widened = {n: t for n, t in types.items() if n in needed}
    try:
        for table in iter_csv_tables(path, options, widened):
            yield table.select(list(needed))
    except TypeConflict as exc:
        raise ArtifactError(
            f"{path}: column {exc.column!r} holds a value that is not "
            f"{widened.get(exc.column, exc.wider).value}, the type the model takes it as. Fix "
            "or blank the value (an empty field is a missing value), or pass --null-value for "
            "a missing-value marker such as '?'"
        ) from None
    except (OSError, pa.ArrowException) as exc:
        raise _unreadable(path, exc) from None


_ARROW_TYPES = {
    FeatureType.INT: pa.int64(),
    FeatureType.FLOAT: pa.float64(),
    FeatureType.STRING: pa.string(),
    FeatureType.BOOL: pa.bool_(),
    FeatureType.TIMESTAMP: pa.timestamp("us"),
}


def _jsonl_tables(
    path: str, needed: Sequence[str], types: Mapping[str, FeatureType]
) -> Iterator[pa.Table]:
    read = pajson.ReadOptions(block_size=_JSON_BLOCK)
    try:
        with open_input(path) as fh:
            peek = pajson.open_json(fh, read_options=read).schema
    except (OSError, pa.ArrowException) as exc:
        raise _unreadable(path, exc) from None
    missing = [n for n in needed if n not in peek.names]
    if missing:
        raise missing_columns_error(path, missing, peek.names)
    fields = []
    for name in needed:
        kind = types.get(name)
        # numbers as float64: a block of whole numbers must not fix an int column
        arrow = (
            pa.float64() if kind == FeatureType.INT else _ARROW_TYPES.get(kind) if kind else None
        )
        fields.append(pa.field(name, arrow if arrow is not None else peek.field(name).type))
    parse = pajson.ParseOptions(
        explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore"
    )
    try:
        with open_input(path) as fh:
            for batch in pajson.open_json(fh, read_options=read, parse_options=parse):
                yield pa.Table.from_batches([batch]).select(list(needed))
    except (OSError, pa.ArrowException) as exc:
        raise ArtifactError(
            f"{path}: {exc}. Each line must be one JSON object whose model inputs have the "
            f"types the model takes ({ {n: str(types[n]) for n in needed if n in types} })"
        ) from None


class AtomicSink:
    """Writes tables to ``path`` as ``fmt`` through a temporary file renamed on :meth:`commit`;
    :meth:`abort` (or leaving a ``with`` block on an error) removes the temporary file.

    Example:
        >>> with AtomicSink("out.parquet", "parquet") as sink:  # doctest: +SKIP
        ...     sink.write(table)
        ...     sink.commit()
    """

    def __init__(self, path: str, fmt: str) -> None:
        self.path = path
        self.fmt = fmt
        head, tail = os.path.split(path.rstrip("/"))
        self.temp = f"{head}/.{tail}.{uuid.uuid4().hex[:8]}.tmp" if head else f".{tail}.tmp"
        self._fs: Any = None
        if is_remote(path):
            import fsspec

            self._fs, self._temp_path = fsspec.core.url_to_fs(self.temp)
            self._fh: Any = self._fs.open(self._temp_path, "wb")
        else:
            local = self.temp.removeprefix("file://")
            self._temp_path = local
            try:
                self._fh = open(local, "wb")  # noqa: SIM115 (closed by commit or abort)
            except OSError as exc:
                raise ArtifactError(
                    f"Cannot write {path!r}: {exc}. Check that its folder exists and is writable"
                ) from None
        self._writer: Any = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """Append ``table`` (every call with the same schema)."""
        if self.fmt == "parquet":
            if self._writer is None:
                self._writer = pq.ParquetWriter(self._fh, table.schema)
            self._writer.write_table(table)
        elif self.fmt == "csv":
            if self._writer is None:
                self._writer = pacsv.CSVWriter(self._fh, table.schema)
            self._writer.write_table(table)
        else:
            lines = (json.dumps(row, default=str) for row in table.to_pylist())
            self._fh.write("".join(f"{line}\n" for line in lines).encode("utf-8"))
        self.rows += table.num_rows

    def commit(self, schema: pa.Schema | None = None) -> None:
        """Finish the file and move it to ``path`` (an empty file gets ``schema``'s header)."""
        if self._writer is None and schema is not None and self.fmt != "jsonl":
            self.write(schema.empty_table())
        if self._writer is not None:
            self._writer.close()
        self._fh.close()
        if self._fs is not None:
            import fsspec

            _, target = fsspec.core.url_to_fs(self.path)
            self._fs.mv(self._temp_path, target)
        else:
            os.replace(self._temp_path, self.path.removeprefix("file://"))
        self._fh = None

    def abort(self) -> None:
        """Close and remove the temporary file (nothing is left at ``path``)."""
        if self._fh is None:
            return
        try:
            if self._writer is not None:
                self._writer.close()
            self._fh.close()
        except (OSError, pa.ArrowException):
            pass
        try:
            if self._fs is not None:
                self._fs.rm(self._temp_path)
            else:
                os.remove(self._temp_path)
        except OSError:
            pass
        self._fh = None

    def __enter__(self) -> AtomicSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()
