"""Read tabular sources (CSV, Parquet, JSON Lines, SQL) into Arrow tables with safe column types.

Every reader goes through pyarrow's multithreaded C++ readers; Python only touches the data on
error paths (to find the line to blame). CSV columns are read as text and typed here, column by
column, with vectorised checks, so that inference is *safe*:

* integers with missing values stay integers (with nulls), never floats;
* ``""``, ``NA``, ``N/A``, ``NaN``, ``null``, ... are nulls in every column;
* codes with leading zeros (``00123``) stay strings, since a number would lose them;
* ``true``/``false`` (any case) are booleans, ISO-8601 dates and times are timestamps;
* anything else is a string (a categorical or free text).

An override map (``{"zip": "STRING", "flag": "BOOL"}``, values of
:class:`~conveyor.data.model.FeatureType`) wins over inference. Malformed inputs raise
:class:`~conveyor.errors.ArtifactError` naming the file, the line and how to fix it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from conveyor.data.columns import (
    apply_column_types,
    cast_like,
    check_column_types,
    concat_tables,
    feature_type,
    feature_types,
    type_text_columns,
)
from conveyor.data.csv_options import NULL_VALUES, CsvOptions
from conveyor.data.csv_reader import (
    clean_text,
    csv_error,
    csv_parse_options,
    csv_read_options,
    open_input,
    read_csv_text,
    text_convert_options,
)
from conveyor.data.files import FORMATS, detect_format, expand_paths
from conveyor.errors import ArtifactError

__all__ = [
    "FORMATS",
    "NULL_VALUES",
    "CsvOptions",
    "apply_column_types",
    "detect_format",
    "expand_paths",
    "feature_type",
    "feature_types",
    "iter_batches",
    "read_sql",
    "read_table",
]

# --- reading ----------------------------------------------------------------------------------


def read_table(
    source: str | Sequence[str],
    *,
    format: str = "auto",
    column_types: Mapping[str, str] | None = None,
    csv: CsvOptions | None = None,
) -> pa.Table:
    """Read every file of ``source`` (path, glob, folder or fsspec URL) into one table.

    Files must share their columns. CSV text is typed safely (see the module docstring) over
    all files together, so a column that is an integer in one file and a float in another
    is a float; Parquet and JSON types are kept and widened the same way.

    Args:
        source: a path, glob pattern (``data/*.csv``), folder or fsspec URL, or a list.
        format: ``auto`` (by extension), ``csv``, ``parquet`` or ``jsonl``.
        column_types: overrides, column name to a FeatureType value (``INT``, ``FLOAT``,
            ``STRING``, ``BOOL``, ``TIMESTAMP``).
        csv: how to read CSV files (header, delimiter, missing-value markers, encoding, ...);
            the defaults read a comma-separated UTF-8 file with a header.

    Returns:
        The table, columns in the order of the first file.

    Raises:
        ArtifactError: nothing matches, a file is empty, has a header only, ragged rows, bad
            encoding or bad JSON, files disagree on their columns, or a value does not fit
            an overridden type.

    Example:
        >>> table = read_table("penguins/*.csv", column_types={"year": "STRING"})  # doctest: +SKIP
        >>> feature_types(table.schema)["year"]  # doctest: +SKIP
        <FeatureType.STRING: 'STRING'>
    """
    files = expand_paths(source)
    overrides = check_column_types(column_types)
    by_format: dict[str, list[str]] = {}
    for f in files:
        by_format.setdefault(detect_format(f, format), []).append(f)
    tables: list[tuple[str, pa.Table]] = []
    if "csv" in by_format:
        options = csv or CsvOptions()
        raw = [(f, read_csv_text(f, options)) for f in by_format["csv"]]
        _check_same_columns(raw)
        tables.append((raw[0][0], type_text_columns(raw, overrides)))
    for f in by_format.get("parquet", []):
        tables.append((f, _read_parquet(f)))
    for f in by_format.get("jsonl", []):
        tables.append((f, _read_jsonl(f)))
    _check_same_columns(tables)
    table = concat_tables([t for _, t in tables], tables[0][0])
    table = _normalise(table)
    if by_format.keys() != {"csv"}:
        table = apply_column_types(table, overrides, source=files[0])
    return table


def iter_batches(
    path: str,
    *,
    format: str = "auto",
    column_types: Mapping[str, str] | None = None,
    batch_rows: int = 256_000,
    csv: CsvOptions | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream one big file as record batches in bounded memory.

    CSV types are inferred safely on the first batch (after ``column_types``) and every
    later batch is converted to those types; a later value that does not fit raises an
    ``ArtifactError`` telling which override to give.

    Example:
        >>> rows = sum(b.num_rows for b in iter_batches("big.csv"))  # doctest: +SKIP
    """
    fmt = detect_format(path, format)
    overrides = check_column_types(column_types)
    if fmt == "parquet":
        with open_input(path) as fh:
            for batch in pq.ParquetFile(fh).iter_batches(batch_size=batch_rows):
                yield from apply_column_types(
                    _normalise(pa.Table.from_batches([batch])), overrides, source=path
                ).to_batches()
        return
    if fmt == "jsonl":
        yield from read_table(path, format=fmt, column_types=column_types).to_batches(batch_rows)
        return
    options = csv or CsvOptions()
    if options.comment is not None:
        raise ValueError("iter_batches does not skip comment lines: use read_table(csv=...)")
    read_opts = csv_read_options(options, block=max(1 << 16, batch_rows * 32))
    parse_opts = csv_parse_options(path, options)
    try:
        with open_input(path) as fh:
            names = pacsv.open_csv(
                fh, read_options=read_opts, parse_options=parse_opts
            ).schema.names
        fh = open_input(path)
        reader = pacsv.open_csv(
            fh,
            read_options=read_opts,
            parse_options=parse_opts,
            convert_options=text_convert_options(names, options),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise csv_error(path, exc, options) from None
    schema: pa.Schema | None = None
    seen = 0
    with fh:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
                raise csv_error(path, exc, options) from None
            table = clean_text(pa.Table.from_batches([batch]), options)
            if schema is None:
                table = type_text_columns([(path, table)], overrides)
                schema = table.schema
            else:
                table = cast_like(table, schema, path, seen)
            seen += batch.num_rows
            yield from table.to_batches()


def read_sql(url: str, query: str, *, column_types: Mapping[str, str] | None = None) -> pa.Table:
    """Run ``query`` against the SQLAlchemy database ``url`` and return the rows as a table.

    Column types come from the database's values (integers with NULLs stay integers);
    ``column_types`` overrides them as in :func:`read_table`.

    Raises:
        ArtifactError: the database cannot be reached or the query fails.

    Example:
        >>> read_sql("sqlite:///shop.db", "SELECT * FROM orders").num_rows  # doctest: +SKIP
        1200
    """
    import sqlalchemy as sa

    overrides = check_column_types(column_types)
    where = f"database {_mask_url(url)!r}"
    try:
        engine = sa.create_engine(url)
    except (sa.exc.SQLAlchemyError, ImportError, ValueError) as exc:
        raise ArtifactError(f"Cannot open {where}: {exc}. Check the SQLAlchemy URL") from exc
    try:
        with engine.connect() as conn:
            result = conn.execute(sa.text(query))
            names = list(result.keys())
            batches = []
            for rows in result.partitions(100_000):
                columns = list(zip(*rows, strict=True))
                batches.append(pa.table([pa.array(c) for c in columns], names=names))
    except sa.exc.SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        raise ArtifactError(
            f"Query {query!r} failed on {where}: {exc.__class__.__name__}: {cause}. "
            "Check the query and the table names"
        ) from exc
    finally:
        engine.dispose()
    if not batches:
        table = pa.table({n: pa.array([], pa.string()) for n in names})
    else:
        table = concat_tables(batches, where)
    return apply_column_types(_normalise(table), overrides, source=where)


def _mask_url(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


# --- CSV --------------------------------------------------------------------------------------


def _raw_bytes(path: str) -> bytes:
    with open_input(path) as fh:
        data: bytes = fh.read()
    return data


def _check_same_columns(tables: Sequence[tuple[str, pa.Table]]) -> None:
    first_file, first = tables[0]
    for f, t in tables[1:]:
        if set(t.column_names) != set(first.column_names):
            extra = sorted(set(t.column_names) - set(first.column_names))
            missing = sorted(set(first.column_names) - set(t.column_names))
            raise ArtifactError(
                f"{f}: line 1: its columns differ from {first_file}'s (extra {extra!r}, "
                f"missing {missing!r}). Give files with the same columns, or read them "
                "separately"
            )


def _read_parquet(path: str) -> pa.Table:
    try:
        with open_input(path) as fh:
            table = pq.read_table(fh)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ArtifactError(
            f"{path}: line 1: not a readable Parquet file ({exc}). Check that the file is "
            "complete and really Parquet, or pass format="
        ) from exc
    return table


def _read_jsonl(path: str) -> pa.Table:
    try:
        with open_input(path) as fh:
            table = pajson.read_json(fh)
    except pa.ArrowInvalid as exc:
        line, detail = _find_bad_json(path)
        raise ArtifactError(
            f"{path}: line {line}: not valid JSON Lines ({detail}). Write one JSON object per line"
        ) from exc
    if table.num_columns == 0 or table.num_rows == 0:
        raise ArtifactError(f"{path}: line 1: the file has no rows. Add rows or remove it")
    return table


def _find_bad_json(path: str) -> tuple[int | str, str]:
    text = _raw_bytes(path).decode("utf-8", errors="replace")
    if not text.strip():
        return 1, "the file is empty"
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            return number, err.msg
        if not isinstance(obj, dict):
            return number, f"expected an object, got {type(obj).__name__}"
    return "?", "mixed value types"


# --- types ------------------------------------------------------------------------------------


def _normalise(table: pa.Table) -> pa.Table:
    """Dictionary columns to plain values, dates to timestamps, null columns to strings."""
    fields = []
    changed = False
    for field in table.schema:
        t = field.type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if pa.types.is_date(t):
            t = pa.timestamp("us")
        if pa.types.is_null(t) or pa.types.is_large_string(t):
            t = pa.string()
        changed |= t != field.type
        fields.append(pa.field(field.name, t))
    return table.cast(pa.schema(fields)) if changed else table
