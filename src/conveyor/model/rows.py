"""Rows to predict on, as a pyarrow Table, whatever form the caller holds them in.

A loaded model takes a pyarrow Table or RecordBatch, a pandas or polars DataFrame (or any
object with the Arrow PyCapsule stream interface, ``__arrow_c_stream__``), a dict of
columns (lists, numpy arrays, pandas Series) or a list of row dicts. NaN and None are both
missing values, in numbers and in strings alike. Neither pandas nor polars is imported here:
DataFrames are recognised by their module and converted with their own methods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from conveyor.errors import InputError

__all__ = ["ACCEPTED", "as_table"]

ACCEPTED = (
    "a pyarrow.Table, a pandas or polars DataFrame, a dict of columns (lists, numpy arrays) "
    "or a list of row dicts"
)


def as_table(data: Any) -> pa.Table:
    """``data`` as a pyarrow Table with NaN read as missing and plain string columns.

    Raises:
        InputError: ``data`` is none of the accepted kinds, or a column cannot be read
            (naming the column and its first values).

    Example:
        >>> as_table({"island": ["Biscoe", float("nan")], "mass": [3750, None]}).to_pydict()
        {'island': ['Biscoe', None], 'mass': [3750, None]}
    """
    return _normalise(_convert(data))


def _convert(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        if type(data).__name__ != "DataFrame":
            raise InputError(f"predict takes {ACCEPTED}; got a pandas {type(data).__name__}")
        return _arrow_call(lambda: pa.Table.from_pandas(data, preserve_index=False), data)
    if module == "polars":
        if type(data).__name__ == "LazyFrame":
            data = data.collect()
        if type(data).__name__ != "DataFrame":
            raise InputError(f"predict takes {ACCEPTED}; got a polars {type(data).__name__}")
        return _arrow_call(data.to_arrow, data)
    if hasattr(data, "__arrow_c_stream__"):
        return _arrow_call(lambda: pa.table(data), data)
    if isinstance(data, Mapping):
        return _from_columns(data)
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        rows = list(data)
        bad = next((i for i, row in enumerate(rows) if not isinstance(row, Mapping)), None)
        if bad is not None:
            raise InputError(
                f"predict takes {ACCEPTED}; item {bad} of the list is a "
                f"{type(rows[bad]).__name__}, not a dict"
            )
        names: dict[str, None] = {}
        for row in rows:
            names.update(dict.fromkeys(row))
        return _from_columns({name: [row.get(name) for row in rows] for name in names})
    raise InputError(f"predict takes {ACCEPTED}; got {_kind(data)}")


def _kind(data: Any) -> str:
    module = type(data).__module__
    name = type(data).__name__
    return name if module == "builtins" else f"{module}.{name}"


def _arrow_call(convert: Any, data: Any) -> pa.Table:
    try:
        table = convert()
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InputError(
            f"Cannot read the {type(data).__name__} as Arrow columns: {exc}. Give each column "
            "one type (numbers, strings or booleans; NaN or None for missing)"
        ) from exc
    if not isinstance(table, pa.Table):
        raise InputError(f"predict takes {ACCEPTED}; got {type(data).__name__}")
    return table


def _from_columns(data: Mapping[Any, Any]) -> pa.Table:
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    lengths: dict[str, int] = {}
    for name, values in data.items():
        if not isinstance(name, str):
            raise InputError(f"Column names must be strings, got {name!r}")
        if isinstance(values, pa.Array | pa.ChunkedArray):
            columns[name] = values
        else:
            if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
                raise InputError(
                    f"Column {name!r} must be a list of values (one per row), got "
                    f"{type(values).__name__}; wrap a single row's value in a list"
                )
            try:
                columns[name] = pa.array(values, from_pandas=True)  # NaN is missing
            except (pa.ArrowException, TypeError, ValueError) as exc:
                head = list(values[:5]) if hasattr(values, "__getitem__") else "?"
                raise InputError(
                    f"Column {name!r} mixes types Arrow cannot hold in one column ({exc}); "
                    f"first values: {head!r}. Give it one type: numbers, strings or booleans, "
                    "with NaN or None for missing"
                ) from exc
        lengths[name] = len(columns[name])
    if len(set(lengths.values())) > 1:
        raise InputError(f"The columns have different lengths: {lengths!r}")
    return pa.table(columns)


def _normalise(table: pa.Table) -> pa.Table:
    """NaN in float columns becomes null; large and view strings become plain strings;
    dictionary columns are decoded."""
    columns = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_dictionary(kind):
            column = pc.cast(column, kind.value_type)
            kind = column.type
        if pa.types.is_floating(kind):
            column = pc.if_else(pc.is_nan(column), pa.scalar(None, kind), column)
        elif pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            column = pc.cast(column, pa.string())
        elif pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
            column = pc.cast(column, pa.binary())
        columns.append(column)
    return pa.table(columns, names=table.column_names)
