"""Column types: safe inference of CSV text columns, overrides, and logical types.

See :mod:`conveyor.data.io` for the rules (integers with missing values stay integers, codes
with leading zeros stay strings, ``true``/``false`` are booleans, ISO dates are timestamps).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from conveyor.data.model import FLOAT_PATTERN, INT_PATTERN, FeatureType
from conveyor.errors import ArtifactError

__all__ = [
    "apply_column_types",
    "bad_values",
    "cast_like",
    "check_column_types",
    "check_override_names",
    "concat_tables",
    "describe_bad_values",
    "feature_type",
    "feature_types",
    "type_text_columns",
]

_TRUE = ("true",)
_FALSE = ("false",)
_BOOL_TRUE = ("true", "t", "yes", "y", "1")
_BOOL_FALSE = ("false", "f", "no", "n", "0")
_DATE_LIKE = re.compile(r"^\d{4}[-/]\d{2}[-/]\d{2}")
_TYPE_HINT = "pass column_types={%r: 'STRING'} (or another type) to choose it yourself"
_EXAMPLES = 3


def type_text_columns(
    raw: Sequence[tuple[str, pa.Table]],
    overrides: Mapping[str, FeatureType],
) -> pa.Table:
    names = raw[0][1].column_names
    table = concat_tables([t for _, t in raw], raw[0][0])  # aligned on the first's columns
    check_override_names(overrides, names, raw[0][0])

    def convert(name: str) -> pa.ChunkedArray:
        wanted = overrides.get(name)
        if wanted is None:
            return _infer(table.column(name))
        return _convert_text(table.column(name), wanted, name, raw)

    # pyarrow kernels release the GIL: type the columns in parallel.
    with ThreadPoolExecutor(max_workers=min(len(names), os.cpu_count() or 1)) as pool:
        columns = list(pool.map(convert, names))
    return pa.table(columns, names=names)


def _infer(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """The safest type for a text column: int, float, bool, timestamp, else string."""
    if col.null_count == len(col):
        return col
    for text in (col, None):
        if text is None:  # numbers with spaces around them (" 39" in "a, b" files) are numbers
            if not _has_spaces_around(col):
                break
            text = pc.utf8_trim_whitespace(col)
        try:
            ints = _cast(text, pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        else:
            if not _has_leading_zeros(text):
                return ints
            return col
        try:
            return _cast(text, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    if _all_bool(col.slice(0, 1000)) and _all_bool(col):
        return pc.equal(pc.utf8_lower(col), "true")
    first = pc.drop_null(col)[0].as_py()
    if _DATE_LIKE.match(first):
        return _to_timestamp(col)
    return col


def _all_bool(col: pa.ChunkedArray) -> bool:
    lower = pc.utf8_lower(col)
    known = pc.or_kleene(pc.is_in(lower, pa.array(_TRUE + _FALSE)), pc.is_null(lower))
    return bool(pc.all(known).as_py())


def _cast(col: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    """``pc.cast``, failing fast on the first rows (a failed cast of a whole text column
    costs as much as a successful one)."""
    pc.cast(col.slice(0, 1000), target)
    return pc.cast(col, target)


def _to_timestamp(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """ISO-8601 (with or without a zone) or ``YYYY/MM/DD[ HH:MM:SS]`` text as timestamps."""
    for ts_type in (pa.timestamp("us"), pa.timestamp("us", tz="UTC")):
        try:
            return pc.cast(col, ts_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    for fmt in ("%Y/%m/%d", "%Y/%m/%d %H:%M:%S"):
        try:
            return pc.strptime(col, format=fmt, unit="us")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return col


def _has_spaces_around(col: pa.ChunkedArray) -> bool:
    return bool(pc.any(pc.match_substring_regex(col, r"^\s|\s$")).as_py())


def _has_leading_zeros(col: pa.ChunkedArray) -> bool:
    """Whether an integer-looking text column holds codes such as ``00123`` or ``-007``."""
    for prefix, width in (("0", 1), ("-0", 2), ("+0", 2)):
        led = pc.and_(pc.starts_with(col, prefix), pc.greater(pc.binary_length(col), width))
        if pc.any(led).as_py():
            return True
    return False


def _convert_text(
    col: pa.ChunkedArray,
    wanted: FeatureType,
    name: str,
    raw: Sequence[tuple[str, pa.Table]],
) -> pa.ChunkedArray:
    if wanted == FeatureType.STRING:
        return col
    if wanted == FeatureType.BOOL:
        return _to_bool(col, name, raw)
    target = {
        FeatureType.INT: pa.int64(),
        FeatureType.FLOAT: pa.float64(),
        FeatureType.TIMESTAMP: pa.timestamp("us"),
    }[wanted]
    if wanted == FeatureType.TIMESTAMP:
        converted = _to_timestamp(col)
        if pa.types.is_timestamp(converted.type):
            return converted
    else:
        for text in (col, None):
            try:  # numbers with spaces around them are numbers
                return pc.cast(pc.utf8_trim_whitespace(col) if text is None else text, target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
    raise _value_error(name, wanted, bad_values(col, target), col, raw) from None


def _to_bool(col: pa.ChunkedArray, name: str, raw: Sequence[tuple[str, pa.Table]]) -> Any:
    text = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(col, pa.string())))
    ok = pc.or_kleene(pc.is_in(text, pa.array(_BOOL_TRUE + _BOOL_FALSE)), pc.is_null(text))
    if not pc.all(ok).as_py():
        raise _value_error(name, FeatureType.BOOL, pc.invert(ok), col, raw)
    truth = pc.is_in(text, pa.array(_BOOL_TRUE))
    return pc.if_else(pc.is_valid(text), truth, pa.scalar(None, pa.bool_()))


def bad_values(col: pa.ChunkedArray | pa.Array, target: pa.DataType) -> Any:
    """A mask of the values of a text column that do not convert to ``target`` (nulls do).

    A pattern of what Arrow accepts picks the candidates in one pass; the distinct candidates
    are then cast, and any that still fail (an int64 overflow) are found by halving.

    Example:
        >>> bad_values(pa.array(["1", "?", None, "x"]), pa.int64()).to_pylist()
        [False, True, False, True]
    """
    text = col if pa.types.is_string(col.type) else pc.cast(col, pa.string())
    pattern = {pa.int64(): INT_PATTERN, pa.float64(): FLOAT_PATTERN}.get(target)
    valid = pc.is_valid(text)
    fits = (
        valid if pattern is None else pc.fill_null(pc.match_substring_regex(text, pattern), False)
    )
    bad = pc.and_(valid, pc.invert(fits))
    candidates = pc.unique(pc.filter(text, fits))
    if isinstance(candidates, pa.ChunkedArray):
        candidates = candidates.combine_chunks()
    failing = _failing(candidates, target)
    if failing:
        listed = pc.fill_null(pc.is_in(text, value_set=pa.array(failing, pa.string())), False)
        bad = pc.or_(bad, listed)
    return bad


def _converts(values: pa.Array, target: pa.DataType) -> bool:
    if pa.types.is_timestamp(target):
        return bool(pa.types.is_timestamp(_to_timestamp(pa.chunked_array([values])).type))
    try:
        pc.cast(values, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _failing(values: pa.Array, target: pa.DataType) -> list[str]:
    """The distinct values that do not convert, by halving (cheap: few of them fail)."""
    if len(values) == 0 or _converts(values, target):
        return []
    if len(values) == 1:
        return [values[0].as_py()]
    mid = len(values) // 2
    return _failing(values.slice(0, mid), target) + _failing(values.slice(mid), target)


def describe_bad_values(col: pa.ChunkedArray | pa.Array, bad: Any) -> tuple[int, int, str]:
    """(first offending row, how many values offend, a few of them quoted with counts)."""
    count = int(pc.sum(bad).as_py() or 0)
    if count == 0:  # no single value is at fault (e.g. mixed date formats): cite the first
        return 0, 0, repr(col[0].as_py()) if len(col) else ""
    first = int(pc.index(bad, True).as_py())
    vc = pc.value_counts(pc.filter(col, bad))
    values, counts = vc.field("values").to_pylist(), vc.field("counts").to_pylist()
    shown = ", ".join(f"{v!r} ({c})" for v, c in zip(values[:_EXAMPLES], counts, strict=False))
    more = f" and {len(values) - _EXAMPLES} other value(s)" if len(values) > _EXAMPLES else ""
    return first, count, shown + more


def _value_error(
    name: str,
    wanted: FeatureType,
    bad: Any,
    col: pa.ChunkedArray,
    raw: Sequence[tuple[str, pa.Table]],
) -> ArtifactError:
    index, count, shown = describe_bad_values(col, bad)
    path, row = raw[0][0], index
    for f, t in raw:
        if row < t.num_rows:
            path = f
            break
        row -= t.num_rows
    where = f"{path}: line {row + 2}" if _is_csv(path) else f"{path}: row {row + 1}"
    return ArtifactError(
        f"{where}: column {name!r} is declared {wanted.value} but {count} value(s) are not "
        f"{wanted.value}: {shown} (the first here). Fix the values, or change "
        f"column_types[{name!r}] (e.g. to 'STRING')"
    )


def cast_like(table: pa.Table, schema: pa.Schema, path: str, before: int) -> pa.Table:
    columns = []
    for field in schema:
        col = table.column(field.name)
        if field.type == pa.bool_():
            columns.append(pc.equal(pc.utf8_lower(col), "true"))
            continue
        try:
            columns.append(pc.cast(col, field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad = bad_values(col, field.type)
            index, count, shown = describe_bad_values(col, bad)
            raise ArtifactError(
                f"{path}: line {before + index + 2}: column {field.name!r} was inferred as "
                f"{field.type} from the first rows but {count} later value(s) are not: "
                f"{shown} (the first here); " + _TYPE_HINT % field.name
            ) from None
    return pa.table(columns, schema=schema)


# --- Parquet and JSON Lines -------------------------------------------------------------------


def apply_column_types(
    table: pa.Table, column_types: Mapping[str, str] | None, *, source: str = "<table>"
) -> pa.Table:
    """Convert the columns named in ``column_types`` of an already typed table.

    Raises:
        ArtifactError: a column is unknown or a value does not fit its new type.

    Example:
        >>> t = apply_column_types(pa.table({"a": [1, 2]}), {"a": "STRING"})
        >>> t.column("a").to_pylist()
        ['1', '2']
    """
    overrides = check_column_types(column_types)
    check_override_names(overrides, table.column_names, source)
    numeric = {FeatureType.INT: pa.int64(), FeatureType.FLOAT: pa.float64()}
    for name, wanted in overrides.items():
        col = table.column(name)
        if feature_type(col.type) == wanted:
            continue
        if wanted == FeatureType.STRING:
            converted = pc.cast(col, pa.string())
        elif wanted in numeric and feature_type(col.type) in (FeatureType.INT, FeatureType.FLOAT):
            try:
                converted = pc.cast(col, numeric[wanted])
            except pa.ArrowInvalid:
                whole = pc.equal(pc.cast(col, pa.float64()), pc.floor(col))
                bad = pc.invert(pc.fill_null(whole, True))
                raise _value_error(name, wanted, bad, col, [(source, table)]) from None
        else:
            converted = _convert_text(pc.cast(col, pa.string()), wanted, name, [(source, table)])
        table = table.set_column(table.column_names.index(name), name, converted)
    return table


def feature_type(arrow_type: pa.DataType) -> FeatureType:
    """The logical :class:`FeatureType` of an Arrow type."""
    if pa.types.is_boolean(arrow_type):
        return FeatureType.BOOL
    if pa.types.is_integer(arrow_type):
        return FeatureType.INT
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return FeatureType.FLOAT
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return FeatureType.TIMESTAMP
    if pa.types.is_dictionary(arrow_type):
        return feature_type(arrow_type.value_type)
    return FeatureType.STRING


def feature_types(schema: pa.Schema) -> dict[str, FeatureType]:
    """Column name to :class:`FeatureType`, in column order.

    Example:
        >>> feature_types(pa.schema([("age", pa.int64()), ("name", pa.string())]))["age"].value
        'INT'
    """
    return {field.name: feature_type(field.type) for field in schema}


def check_column_types(column_types: Mapping[str, str] | None) -> dict[str, FeatureType]:
    out: dict[str, FeatureType] = {}
    for name, value in (column_types or {}).items():
        try:
            out[name] = FeatureType(str(value).upper())
        except ValueError:
            raise ValueError(
                f"column_types[{name!r}] is {value!r}: use one of "
                f"{[t.value for t in FeatureType]!r}"
            ) from None
    return out


def check_override_names(
    overrides: Mapping[str, FeatureType], names: Sequence[str], source: str
) -> None:
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ArtifactError(
            f"{source}: column_types names columns {unknown!r} that are not in the data "
            f"(columns: {list(names)!r}). Fix the names in column_types"
        )


def concat_tables(tables: Sequence[pa.Table], source: str) -> pa.Table:
    if len(tables) == 1:
        return tables[0]
    names = tables[0].column_names
    try:
        return pa.concat_tables([t.select(names) for t in tables], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ArtifactError(
            f"{source}: the input files disagree on column types ({exc}). Pass column_types "
            "to choose one type per column"
        ) from exc


def _is_csv(path: str) -> bool:
    """Whether a path names a CSV-like text file (rows are lines: errors cite line numbers)."""
    name = path.lower()
    for ext in (".gz", ".bz2", ".zst", ".lz4"):
        name = name.removesuffix(ext)
    return name.endswith((".csv", ".tsv", ".txt"))
