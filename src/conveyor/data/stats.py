"""Compute data statistics (StatisticsGen) in bounded memory: chunked reading, a mergeable
per-chunk state, and the JSON-ready ``StatisticsCollection`` at the end.

Example:
    >>> import pyarrow as pa
    >>> stats = compute_statistics(pa.table({"x": [1, 2, None]}))
    >>> f = stats.datasets[0].feature("x")
    >>> (f.count, f.missing, f.numeric.mean)
    (2, 1, 1.5)
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from conveyor.data.csv_options import CsvOptions
from conveyor.data.csv_reader import TypeConflict, iter_csv_tables
from conveyor.data.io import detect_format
from conveyor.data.model import DatasetStatistics, FeatureType, StatisticsCollection
from conveyor.data.sketches import ColumnState
from conveyor.errors import ArtifactError, ArtifactNotFoundError

__all__ = [
    "PartialStatistics",
    "Source",
    "compute_statistics",
    "iter_tables",
    "statistics_of_examples",
]

Source: TypeAlias = pa.Table | str | os.PathLike[str] | Sequence[str | os.PathLike[str]]

CHUNK_ROWS = 1 << 20
JSON_BLOCK_BYTES = 8 << 20  # JSON Lines: streaming blocks
MAX_SLICES = 1000
_CSV = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".csv.bz2")
_PARQUET = (".parquet", ".pq")
_JSON = (".jsonl", ".ndjson", ".json", ".jsonl.gz")


class PartialStatistics:
    """The mergeable state of the statistics of some rows of one split.

    Compute one per shard (``update`` with each chunk), ``merge`` them in any order, then
    ``to_datasets()``. Slices are kept as separate states and merged slice by slice.
    States pickle, so they can travel between processes.

    Example:
        >>> import pyarrow as pa
        >>> a = PartialStatistics().update(pa.table({"x": [1.0, 2.0]}))
        >>> b = PartialStatistics().update(pa.table({"x": [3.0]}))
        >>> a.merge(b).to_datasets()[0].feature("x").numeric.max
        3.0
    """

    def __init__(
        self,
        *,
        split: str = "all",
        slice_by: Sequence[str] = (),
        weight_column: str | None = None,
        column_types: Mapping[str, FeatureType | str] | None = None,
    ) -> None:
        self.split = split
        self.slice_by = tuple(slice_by)
        self.weight_column = weight_column
        self.column_types = {k: FeatureType(v) for k, v in (column_types or {}).items()}
        # slice label (None: the whole split) -> [num_rows, weighted_num_rows, columns]
        self._sets: dict[str | None, _SetState] = {None: _SetState()}

    def update(self, table: pa.Table | pa.RecordBatch) -> PartialStatistics:
        """Fold in one chunk of rows; returns self."""
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        table = _cast_columns(table, self.column_types)
        weights = self._weights(table)
        self._sets[None].update(table, weights)
        for column in self.slice_by:
            self._update_slices(table, weights, column)
        return self

    def _weights(self, table: pa.Table) -> pa.ChunkedArray | None:
        if self.weight_column is None:
            return None
        if self.weight_column not in table.column_names:
            raise ValueError(
                f"Weight column {self.weight_column!r} is not in the data; its columns are "
                f"{table.column_names}"
            )
        w = table.column(self.weight_column)
        if not (
            pa.types.is_integer(w.type) or pa.types.is_floating(w.type) or w.null_count == len(w)
        ):
            raise ValueError(f"Weight column {self.weight_column!r} must be numeric, not {w.type}")
        return pc.fill_null(w.cast(pa.float64(), safe=False), 0.0)

    def _update_slices(self, table: pa.Table, weights: pa.ChunkedArray | None, column: str) -> None:
        if column not in table.column_names:
            raise ValueError(
                f"Slice column {column!r} is not in the data; its columns are {table.column_names}"
            )
        keys = table.column(column)
        for value in pc.unique(keys).to_pylist():
            if value is None:
                continue  # rows without a value belong to no slice (as in TFDV)
            label = f"{column}={_label(value)}"
            if label not in self._sets:
                if len(self._sets) > MAX_SLICES:
                    raise ValueError(
                        f"Slicing by {column!r} makes more than {MAX_SLICES} slices; slice by a "
                        "categorical column with fewer values"
                    )
                self._sets[label] = _SetState()
            mask = pc.equal(keys, pa.scalar(value, keys.type))
            sub_weights = None if weights is None else pc.filter(weights, mask)
            self._sets[label].update(table.filter(mask), sub_weights)

    def merge(self, other: PartialStatistics) -> PartialStatistics:
        """Fold the state of other rows of the same split into this one; returns self."""
        if (other.split, other.slice_by, other.weight_column) != (
            self.split,
            self.slice_by,
            self.weight_column,
        ):
            raise ValueError(
                "Only states computed with the same split, slice_by and weight_column merge: "
                f"{(self.split, self.slice_by, self.weight_column)} vs "
                f"{(other.split, other.slice_by, other.weight_column)}"
            )
        for label, state in other._sets.items():
            self._sets.setdefault(label, _SetState()).merge(state)
        return self

    def to_datasets(self) -> list[DatasetStatistics]:
        """The statistics: the whole split first, then its slices in a stable order."""
        weighted = self.weight_column is not None
        out = [self._sets[None].finish(self.split, None, weighted)]
        labels = sorted(k for k in self._sets if k is not None)
        order = {c: i for i, c in enumerate(self.slice_by)}
        labels.sort(key=lambda k: order.get(k.partition("=")[0], 0))
        out += [self._sets[k].finish(self.split, k, weighted) for k in labels]
        return out

    def to_collection(self) -> StatisticsCollection:
        """The statistics as a collection of one split (and its slices)."""
        return StatisticsCollection(datasets=self.to_datasets())


class _SetState:
    """State of one data set (a split or a slice): row counts and column states."""

    def __init__(self) -> None:
        self.num_rows = 0
        self.weighted_num_rows = 0.0
        self.columns: dict[str, ColumnState] = {}

    def update(self, table: pa.Table, weights: pa.ChunkedArray | None) -> None:
        self.num_rows += table.num_rows
        if weights is not None:
            self.weighted_num_rows += float(pc.sum(weights).as_py() or 0.0)
        for name, column in zip(table.column_names, table.columns, strict=True):
            ftype, counted_only = _logical_type(column.type)
            state = self.columns.get(name)
            if state is None:
                state = self.columns[name] = ColumnState(name, ftype)
                if counted_only:
                    state.string = None
            part = state
            if state.type != ftype and ftype is not None:
                part = ColumnState(name, ftype)  # e.g. INT after FLOAT: merge promotes
            part.update(_as_values(column, ftype), weights)
            if part is not state:
                state.merge(part)

    def merge(self, other: _SetState) -> None:
        self.num_rows += other.num_rows
        self.weighted_num_rows += other.weighted_num_rows
        for name, column in other.columns.items():
            if name in self.columns:
                self.columns[name].merge(column)
            else:
                mine = self.columns[name] = ColumnState(name, column.type)
                if column.numeric is None:
                    mine.numeric = None
                if column.string is None:
                    mine.string = None
                mine.merge(column)

    def finish(self, split: str, label: str | None, weighted: bool) -> DatasetStatistics:
        return DatasetStatistics(
            name=split,
            num_rows=self.num_rows,
            features=[c.finish(self.num_rows, weighted) for c in self.columns.values()],
            weighted_num_rows=self.weighted_num_rows if weighted else None,
            slice=label,
        )


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _logical_type(t: pa.DataType) -> tuple[FeatureType | None, bool]:
    """(logical type, counted only): None for the null type (all values missing)."""
    if pa.types.is_null(t):
        return None, False
    if pa.types.is_boolean(t):
        return FeatureType.BOOL, False
    if pa.types.is_integer(t):
        return FeatureType.INT, False
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return FeatureType.FLOAT, False
    if pa.types.is_temporal(t) and not (pa.types.is_duration(t) or pa.types.is_time(t)):
        return FeatureType.TIMESTAMP, False
    if pa.types.is_dictionary(t):
        return _logical_type(t.value_type)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return FeatureType.STRING, False
    return FeatureType.STRING, True  # binary, lists, structs: presence only


def _as_values(column: pa.ChunkedArray, ftype: FeatureType | None) -> pa.ChunkedArray:
    """The column as the states expect it: numbers as numbers, timestamps as epoch seconds."""
    if ftype == FeatureType.TIMESTAMP:
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        micros = column.cast(pa.timestamp("us")).cast(pa.int64())
        return pc.divide(micros.cast(pa.float64()), 1e6)
    if ftype == FeatureType.FLOAT and pa.types.is_decimal(column.type):
        return column.cast(pa.float64())
    # everything else as is (booleans: the numeric state takes them as 0/1, the string
    # state as true/false)
    return column


_TARGET = {
    FeatureType.INT: pa.int64(),
    FeatureType.FLOAT: pa.float64(),
    FeatureType.STRING: pa.string(),
    FeatureType.BOOL: pa.bool_(),
    FeatureType.TIMESTAMP: pa.timestamp("us"),
}


def _cast_columns(table: pa.Table, types: Mapping[str, FeatureType]) -> pa.Table:
    for name, ftype in types.items():
        if name not in table.column_names:
            continue
        i = table.column_names.index(name)
        current, _ = _logical_type(table.schema.field(i).type)
        if current == ftype:
            continue
        try:
            table = table.set_column(i, name, table.column(i).cast(_TARGET[ftype]))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValueError(f"Column {name!r} cannot be read as {ftype}: {exc}") from exc
    return table


# --- reading ----------------------------------------------------------------------------------


def _expand(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    items = [source] if isinstance(source, str | os.PathLike) else list(source)
    paths: list[str] = []
    for item in items:
        text = os.fspath(item)
        if os.path.isdir(text):
            found = sorted(
                os.path.join(root, f)
                for root, _, files in os.walk(text)
                for f in files
                if f.lower().endswith(_CSV + _PARQUET + _JSON)
            )
        elif glob.has_magic(text):
            found = sorted(glob.glob(text, recursive=True))
        else:
            found = [text] if os.path.exists(text) else []
        if not found:
            raise ArtifactNotFoundError(
                f"No data at {text!r} (working directory {os.getcwd()!r}). Give a CSV, Parquet "
                "or JSON Lines file, a folder of them, or a glob pattern"
            )
        paths += found
    return paths


def _read_file(
    path: str,
    chunk_rows: int,
    widened: dict[str, FeatureType],
    csv: CsvOptions,
    format: str,
) -> Iterator[pa.Table]:
    fmt = detect_format(path, format)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        if pf.metadata.num_rows == 0:
            yield pf.schema_arrow.empty_table()
        for batch in pf.iter_batches(batch_size=chunk_rows):
            yield pa.Table.from_batches([batch])
    elif fmt == "jsonl":
        import pyarrow.json as pj

        reader = pj.open_json(path, read_options=pj.ReadOptions(block_size=JSON_BLOCK_BYTES))
        for batch in reader:
            yield pa.Table.from_batches([batch])
    else:  # the CSV reader of example_gen: same options, same types
        yield from iter_csv_tables(path, csv, widened)


def _file_state(
    path: str, template: PartialStatistics, chunk_rows: int, csv: CsvOptions, format: str
) -> PartialStatistics:
    """The state of one file. A CSV column whose type the first range guessed wrong (ints,
    then a float) is widened and the file read again, so no value is ever dropped."""
    widened: dict[str, FeatureType] = {}
    while True:
        state = _like(template)
        try:
            for table in _read_file(path, chunk_rows, widened, csv, format):
                state.update(table)
            return state
        except TypeConflict as conflict:
            widened[conflict.column] = conflict.wider
        except (OSError, pa.ArrowException) as exc:
            raise ArtifactError(f"Cannot read {path!r}: {exc}") from None


def _like(template: PartialStatistics) -> PartialStatistics:
    return PartialStatistics(
        split=template.split,
        slice_by=template.slice_by,
        weight_column=template.weight_column,
        column_types=template.column_types,
    )


def iter_tables(source: Source, *, chunk_rows: int = CHUNK_ROWS) -> Iterator[pa.Table]:
    """The rows of ``source`` as Arrow tables of at most about ``chunk_rows`` rows (CSV: one
    block of the streaming reader each)."""
    if isinstance(source, pa.Table):
        if source.num_rows == 0:
            yield source
        for start in range(0, source.num_rows, chunk_rows):
            yield source.slice(start, chunk_rows)
        return
    for path in _expand(source):
        yield from _read_file(path, chunk_rows, {}, CsvOptions(), "auto")


def compute_statistics(
    source: Source,
    *,
    split: str = "all",
    slice_by: Iterable[str] = (),
    weight_column: str | None = None,
    column_types: Mapping[str, FeatureType | str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    csv: CsvOptions | None = None,
    format: str = "auto",
) -> StatisticsCollection:
    """Statistics of a table, a file, a folder, a glob or a list of files, read in chunks.

    Args:
        source: a ``pyarrow.Table``, or CSV / Parquet / JSON Lines path(s), folder or glob.
        split: the name of the data set in the result.
        slice_by: columns whose every value gets its own statistics (``slice='sex=Female'``).
        weight_column: a numeric column of example weights (weighted counts).
        column_types: logical types that override inference, e.g. ``{"zip": "STRING"}``.
        chunk_rows: rows per chunk for tables and Parquet (memory is bounded by a chunk).
        csv: how to read CSV files (header, delimiter, missing-value markers, encoding, ...),
            as ``example_gen`` reads them.
        format: ``auto`` (by extension), ``csv``, ``parquet`` or ``jsonl``.

    Returns:
        One ``DatasetStatistics`` for the split, then one per slice.

    Raises:
        ArtifactNotFoundError: nothing at the path.
        ArtifactError: a file cannot be read (the message names it).
        ValueError: a weight or slice column is missing, or a type override does not apply.

    Example:
        >>> import pyarrow as pa
        >>> t = pa.table({"sex": ["F", "M", "F"], "age": [30, 40, 50]})
        >>> s = compute_statistics(t, slice_by=["sex"])
        >>> [(d.slice, d.num_rows) for d in s.datasets]
        [(None, 3), ('sex=F', 2), ('sex=M', 1)]
    """
    state = PartialStatistics(
        split=split,
        slice_by=tuple(slice_by),
        weight_column=weight_column,
        column_types=column_types,
    )
    if isinstance(source, pa.Table):
        for table in iter_tables(source, chunk_rows=chunk_rows):
            state.update(table)
    else:
        for path in _expand(source):
            state.merge(_file_state(path, state, chunk_rows, csv or CsvOptions(), format))
    return state.to_collection()


def statistics_of_examples(
    examples_path: str | os.PathLike[str],
    *,
    splits: Sequence[str] | None = None,
    slice_by: Iterable[str] = (),
    weight_column: str | None = None,
) -> StatisticsCollection:
    """Statistics of an ``Examples`` folder (``<path>/<split>/part-*.parquet``): one
    ``DatasetStatistics`` per split (and per slice of each split).

    Example:
        >>> stats = statistics_of_examples("artifacts/examples")  # doctest: +SKIP
        >>> [d.name for d in stats.datasets]  # doctest: +SKIP
        ['train', 'eval']
    """
    root = os.fspath(examples_path)
    if splits is None:
        if not os.path.isdir(root):
            raise ArtifactNotFoundError(f"No Examples folder at {root!r}")
        splits = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        splits = [s for s in splits if not s.startswith((".", "_"))]
    collection = StatisticsCollection()
    for split in splits:
        stats = compute_statistics(
            os.path.join(root, split), split=split, slice_by=slice_by, weight_column=weight_column
        )
        collection.datasets += stats.datasets
    return collection
