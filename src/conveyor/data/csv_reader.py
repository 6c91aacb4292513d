"""The one CSV reader behind ``example_gen`` (:func:`conveyor.data.io.read_table`) and the
``conveyor data`` commands (:func:`conveyor.data.stats.compute_statistics`).

Every column is read as text by pyarrow's multithreaded parser (with the
:class:`~conveyor.data.csv_options.CsvOptions` given) and then typed by
:mod:`conveyor.data.columns`, so the same file gets the same types on both paths. A plain
local file is read in byte ranges of whole rows (parsed in parallel, memory bounded by a
range); compressed or remote files are streamed. Problems raise
:class:`~conveyor.errors.ArtifactError` naming the file, the line and how to fix it, with no
traceback of Conveyor's own.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from conveyor._internal.paths import is_remote
from conveyor.data.columns import feature_type, type_text_columns
from conveyor.data.csv_options import CsvOptions, check_header
from conveyor.data.model import FeatureType
from conveyor.errors import ArtifactError

__all__ = [
    "TypeConflict",
    "clean_text",
    "csv_error",
    "csv_parse_options",
    "csv_read_options",
    "iter_csv_tables",
    "open_input",
    "read_csv_text",
    "text_convert_options",
]

BLOCK_BYTES = 8 << 20  # streaming and whole-file reads
RANGE_BYTES = 4 << 20  # plain local files: byte ranges parsed in parallel (the first, 4x: types)
_MAX_BLOCK = 1 << 30  # a row longer than this is refused
_COMPRESSIONS = (".gz", ".bz2", ".zst", ".lz4")


class TypeConflict(Exception):
    """A later range of a file holds a value that does not fit a column's type inferred from
    the first range: read the file again with ``column`` as ``wider``."""

    def __init__(self, column: str, wider: FeatureType) -> None:
        super().__init__(f"column {column!r} needs {wider.value}")
        self.column = column
        self.wider = wider


def open_input(path: str) -> Any:
    """A binary stream of ``path`` (local, ``file://`` or fsspec URL; compression by suffix)."""
    if is_remote(path):
        import fsspec

        return fsspec.open(path, "rb", compression="infer").open()
    path = path.removeprefix("file://")
    if path.endswith(_COMPRESSIONS):
        return pa.input_stream(path, compression="detect")
    return pa.OSFile(path, "rb")


def _raw_bytes(path: str) -> bytes:
    with open_input(path) as fh:
        data: bytes = fh.read()
    return data


# --- options for pyarrow ----------------------------------------------------------------------


def csv_parse_options(path: str, options: CsvOptions) -> pacsv.ParseOptions:
    """How pyarrow splits the fields of ``path``: the options' separator, one line a row."""
    return pacsv.ParseOptions(delimiter=options.separator(path), newlines_in_values=False)


def csv_read_options(
    options: CsvOptions, names: list[str] | None = None, *, block: int = BLOCK_BYTES
) -> pacsv.ReadOptions:
    """Options for text where the first ``skip_rows`` lines (and comments) are already gone
    when ``names`` is given; else for the file itself, the header read by pyarrow."""
    encoding = "utf8" if options.utf8() else options.encoding
    if names is not None:
        return pacsv.ReadOptions(column_names=names, encoding=encoding, block_size=block)
    skip = options.skip_rows + (1 if options.header and options.column_names else 0)
    return pacsv.ReadOptions(
        column_names=list(options.column_names) if options.column_names else None,
        autogenerate_column_names=not options.header and not options.column_names,
        skip_rows=skip,
        encoding=encoding,
        block_size=block,
    )


def text_convert_options(names: list[str], options: CsvOptions) -> pacsv.ConvertOptions:
    """Every column of ``names`` read as text, the options' missing-value markers as nulls."""
    return pacsv.ConvertOptions(
        null_values=options.markers(),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        column_types={n: pa.string() for n in names},
        auto_dict_encode=False,
        timestamp_parsers=[],  # every column read as text: columns.py types them
    )


def clean_text(table: pa.Table, options: CsvOptions) -> pa.Table:
    """Text columns after the options: fields trimmed (then missing-value markers found again)."""
    if not options.trim_whitespace:
        return table
    markers = pa.array(options.markers())
    columns = []
    for col in table.columns:
        trimmed = pc.utf8_trim_whitespace(col)
        columns.append(pc.if_else(pc.is_in(trimmed, markers), None, trimmed))
    return pa.table(columns, names=table.column_names)


def _drop_comments(data: bytes, comment: str, encoding: str) -> bytes:
    mark = re.escape(comment.encode(encoding))
    return re.sub(rb"(?m)^" + mark + rb"[^\n]*(\n|$)", b"", data)


def _skip_lines(data: bytes, count: int) -> bytes:
    start = 0
    for _ in range(count):
        found = data.find(b"\n", start)
        if found < 0:
            return b""
        start = found + 1
    return data[start:]


# --- whole files ------------------------------------------------------------------------------


def read_csv_text(path: str, options: CsvOptions) -> pa.Table:
    """The whole file as text columns (missing-value markers as nulls, after the options).

    Warns with :class:`~conveyor.data.csv_options.CsvHeaderWarning` when the header looks
    like data. Raises :class:`~conveyor.errors.ArtifactError` for an unreadable file.
    """
    block = BLOCK_BYTES
    while True:
        try:
            table = _read_whole(path, options, block)
            break
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            bigger = _bigger_block(path, exc, block)
            if bigger is None:
                raise csv_error(path, exc, options) from None
            block = bigger
    if table.num_rows == 0:
        raise _no_rows(path, table, options)
    _check_names(path, table, options)
    return clean_text(table, options)


def _read_whole(path: str, options: CsvOptions, block: int) -> pa.Table:
    parse = csv_parse_options(path, options)
    if options.comment is not None:
        data = _skip_lines(_raw_bytes(path), options.skip_rows)
        data = _drop_comments(data, options.comment, options.encoding)
        opts = options.replace(skip_rows=0)
        source: Any = lambda: pa.BufferReader(data)  # noqa: E731
    else:
        opts = options
        source = lambda: open_input(path)  # noqa: E731
    read = csv_read_options(opts, block=block)
    with source() as fh:
        names = pacsv.open_csv(fh, read_options=read, parse_options=parse).schema.names
    with source() as fh:
        table: pa.Table = pacsv.read_csv(
            fh,
            read_options=read,
            parse_options=parse,
            convert_options=text_convert_options(names, options),
        )
    return table


def _bigger_block(path: str, exc: Exception, block: int) -> int | None:
    """A larger block for a row longer than ``block`` (pyarrow's 'straddling object')."""
    if "straddling" not in str(exc) or block >= _MAX_BLOCK:
        return None
    return min(_MAX_BLOCK, max(block * 4, _size(path) + 1))


def _size(path: str) -> int:
    if is_remote(path) or path.endswith(_COMPRESSIONS):
        return BLOCK_BYTES
    return os.path.getsize(path.removeprefix("file://"))


def _no_rows(path: str, table: pa.Table, options: CsvOptions) -> ArtifactError:
    if not options.header:
        return ArtifactError(f"{path}: line 1: the file has no rows. Add rows or remove it")
    return ArtifactError(
        f"{path}: line 2: the file has a header ({', '.join(table.column_names)}) but no rows. "
        "Add data rows or remove the file from the input pattern"
    )


# --- typed tables in bounded memory ------------------------------------------------------------


def iter_csv_tables(
    path: str, options: CsvOptions, widened: Mapping[str, FeatureType] | None = None
) -> Iterator[pa.Table]:
    """The rows of one CSV file as typed tables of a few MiB each, typed as
    :func:`~conveyor.data.io.read_table` types them.

    Types are inferred from the text of the first range (``widened`` columns get the given
    type); later ranges are parsed straight to those types (pyarrow's typed parser, as fast
    as a plain ``read_csv``), or converted from text when fields are trimmed.

    Raises:
        TypeConflict: a later value does not fit its column's type; read again with it widened.
        ArtifactError: the file cannot be read.
    """
    overrides = dict(widened or {})
    if is_remote(path) or path.endswith(_COMPRESSIONS) or options.comment is not None:
        texts = _stream_text(path, options)
    elif options.trim_whitespace:
        texts = _range_tables(path.removeprefix("file://"), options, None)
    else:
        yield from _range_tables(path.removeprefix("file://"), options, overrides)
        return
    schema: pa.Schema | None = None
    for text in texts:
        if schema is None:
            table = type_text_columns([(path, text)], overrides)
            schema = table.schema
        else:
            table = _convert_like(path, text, schema)
        yield table


def _convert_like(path: str, text: pa.Table, schema: pa.Schema) -> pa.Table:
    types = {f.name: feature_type(f.type) for f in schema}
    try:
        table = type_text_columns([(path, text)], types)
    except ArtifactError:
        for name, wanted in types.items():
            _check_fits(path, text.select([name]), name, wanted, schema.field(name).type)
        raise
    for field in schema:
        if table.schema.field(field.name).type != field.type:
            raise TypeConflict(field.name, FeatureType.STRING)
        if types[field.name] == FeatureType.INT and _leading_zeros(text.column(field.name)):
            raise TypeConflict(field.name, FeatureType.STRING)
    return table


def _check_fits(
    path: str, text: pa.Table, name: str, wanted: FeatureType, arrow_type: pa.DataType
) -> None:
    try:
        typed = type_text_columns([(path, text)], {name: wanted})
    except ArtifactError:
        typed = None
    if typed is not None and typed.schema.field(name).type == arrow_type:
        return
    wider = FeatureType.STRING
    if wanted == FeatureType.INT:
        try:
            pc.cast(pc.utf8_trim_whitespace(text.column(name)), pa.float64())
            wider = FeatureType.FLOAT
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    raise TypeConflict(name, wider)


def _leading_zeros(col: pa.ChunkedArray) -> bool:
    """Whether integer text holds codes such as ``00123`` (read as strings, like columns.py)."""
    return bool(pc.any(pc.match_substring_regex(col, r"^\s*[-+]?0[0-9]")).as_py())


def _stream_text(path: str, options: CsvOptions) -> Iterator[pa.Table]:
    """Compressed, remote or commented files: one sequential stream of text blocks."""
    if options.comment is not None:
        yield read_csv_text(path, options)  # comments are dropped from the whole text
        return
    parse = csv_parse_options(path, options)
    read = csv_read_options(options)
    try:
        with open_input(path) as fh:
            names = pacsv.open_csv(fh, read_options=read, parse_options=parse).schema.names
        with open_input(path) as fh:
            reader = pacsv.open_csv(
                fh,
                read_options=read,
                parse_options=parse,
                convert_options=text_convert_options(names, options),
            )
            first = True
            for batch in reader:
                table = pa.Table.from_batches([batch])
                if first:
                    _check_names(path, table, options)
                first = False
                yield clean_text(table, options)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise csv_error(path, exc, options) from None
    if first:
        yield _empty(names)


def _typed_convert_options(schema: pa.Schema, options: CsvOptions) -> pacsv.ConvertOptions:
    """Convert options that parse a later range to ``schema``, the first range's types
    (timestamps as text: :func:`_timestamps` converts them as the first range was)."""
    types = {f.name: pa.string() if pa.types.is_timestamp(f.type) else f.type for f in schema}
    return pacsv.ConvertOptions(
        null_values=options.markers(),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        column_types=types,
        true_values=["true", "True", "TRUE"],
        false_values=["false", "False", "FALSE"],
    )


def _timestamp_formats(schema: pa.Schema, text: pa.Table) -> dict[str, str | None]:
    """The format of each timestamp column of the first range (None: ISO 8601)."""
    formats: dict[str, str | None] = {}
    for field in schema:
        if pa.types.is_timestamp(field.type):
            col = text.column(field.name)
            formats[field.name] = None
            for fmt in (None, "%Y/%m/%d", "%Y/%m/%d %H:%M:%S"):
                try:
                    _parse_time(col, field.type, fmt)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    continue
                formats[field.name] = fmt
                break
    return formats


def _parse_time(col: pa.ChunkedArray, arrow_type: pa.DataType, fmt: str | None) -> Any:
    if fmt is None:
        return pc.cast(col, arrow_type)
    return pc.strptime(col, format=fmt, unit="us")


def _timestamps(table: pa.Table, schema: pa.Schema, formats: dict[str, str | None]) -> pa.Table:
    for name, fmt in formats.items():
        try:
            parsed = _parse_time(table.column(name), schema.field(name).type, fmt)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise TypeConflict(name, FeatureType.STRING) from None
        table = table.set_column(table.column_names.index(name), name, parsed)
    return table


_CONVERSION = re.compile(r"In CSV column #(\d+): .*CSV conversion error")


def _range_tables(
    path: str, options: CsvOptions, overrides: dict[str, FeatureType] | None
) -> Iterator[pa.Table]:
    """A plain local file in ranges of about ``RANGE_BYTES``, each parsed by pyarrow's
    multithreaded reader while the previous one is being used. Without ``overrides``: text
    tables. With them: the first range typed from its text, the others parsed to its types."""
    start, names = _body_start(path, options)
    parse = csv_parse_options(path, options)
    text_convert = text_convert_options(names, options)

    def read(span: tuple[int, int], convert: pacsv.ConvertOptions) -> pa.Table:
        with open(path, "rb") as fh:
            fh.seek(span[0])
            body = fh.read(span[1] - span[0])
        for block in (max(1 << 20, len(body) // 4 + 1), len(body) + 1):
            try:
                table: pa.Table = pacsv.read_csv(
                    pa.BufferReader(body),
                    read_options=csv_read_options(options, names, block=block),
                    parse_options=parse,
                    convert_options=convert,
                )
                return clean_text(table, options) if convert is text_convert else table
            except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
                found = _CONVERSION.search(str(exc))
                if found is not None and convert is not text_convert:
                    name = names[int(found.group(1))]
                    kind = feature_type(convert.column_types[name])
                    wider = FeatureType.FLOAT if kind == FeatureType.INT else FeatureType.STRING
                    raise TypeConflict(name, wider) from None
                if "straddling" not in str(exc):  # else one row longer than a block: retry
                    raise csv_error(path, exc, options) from None
        raise csv_error(path, ValueError("straddling"), options)

    spans = iter(_cuts(path, start))
    span = next(spans, None)
    if span is None:  # a header only: statistics of no rows
        empty = _empty(names)
        yield empty if overrides is None else type_text_columns([(path, empty)], overrides)
        return
    table = read(span, text_convert)
    _check_names(path, table, options)
    convert = text_convert
    formats: dict[str, str | None] = {}
    if overrides is not None:
        text, table = table, type_text_columns([(path, table)], overrides)
        convert = _typed_convert_options(table.schema, options)
        formats = _timestamp_formats(table.schema, text)
    schema = table.schema
    with ThreadPoolExecutor(max_workers=1) as pool:
        for span in spans:
            pending = pool.submit(read, span, convert)
            yield table
            table = _timestamps(pending.result(), schema, formats)
        yield table


def _check_names(path: str, table: pa.Table, options: CsvOptions) -> None:
    """Warn when the header looks like data; refuse a header that names a column twice."""
    if not options.header or options.column_names:
        return
    check_header(path, table)
    names = table.column_names
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ArtifactError(
            f"{path}: line {options.skip_rows + 1}: the header names columns {twice[:5]!r} more "
            "than once. Rename them, or give column_names (--column-names); a file without a "
            "header needs header=False (--no-header)"
        )


def _empty(names: list[str]) -> pa.Table:
    return pa.table({n: pa.array([], pa.string()) for n in names})


def _body_start(path: str, options: CsvOptions) -> tuple[int, list[str]]:
    """The byte offset of the first data row and the column names."""
    with open(path, "rb") as fh:
        for _ in range(options.skip_rows):
            fh.readline()
        while True:
            offset = fh.tell()
            line = fh.readline()
            if options.comment is None or not line.startswith(options.comment.encode()):
                break
        if options.column_names and not options.header:
            return offset, list(options.column_names)
        if not line.strip(b"\r\n"):
            raise ArtifactError(
                f"{path}: line {options.skip_rows + 1}: the file is empty. Write a header line "
                "and rows, or remove the file from the input pattern"
            )
        try:
            names = pacsv.read_csv(
                pa.BufferReader(line),
                read_options=csv_read_options(
                    options.replace(skip_rows=0, column_names=None, header=options.header)
                ),
                parse_options=csv_parse_options(path, options),
                convert_options=pacsv.ConvertOptions(auto_dict_encode=False),
            ).column_names
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise csv_error(path, exc, options) from None
        if options.column_names:
            if len(options.column_names) != len(names):
                raise ArtifactError(
                    f"{path}: line {options.skip_rows + 1}: column_names gives "
                    f"{len(options.column_names)} names but the header has {len(names)} "
                    "fields. Give one name per field"
                )
            names = list(options.column_names)
        return (fh.tell() if options.header else offset), names


def _cuts(path: str, start: int) -> Iterator[tuple[int, int]]:
    """Byte ranges of whole rows from ``start``, about ``RANGE_BYTES`` each. A cut is made only
    at a newline outside quotes (an even number of quote characters before it, which RFC
    4180's doubled quotes keep true)."""
    size = os.path.getsize(path)
    want = 4 * RANGE_BYTES  # the first range infers the column types: a larger sample
    with open(path, "rb") as fh:
        while start < size:
            fh.seek(start)
            data = fh.read(want)
            if start + len(data) >= size:
                yield start, size
                return
            cut = data.rfind(b"\n") + 1
            while cut > 0 and data.count(b'"', 0, cut) % 2:
                cut = data.rfind(b"\n", 0, cut - 1) + 1
            if cut <= 0:  # a row (or quoted field) longer than the range: read more
                want *= 2
                continue
            yield start, start + cut
            start += cut
            want = RANGE_BYTES


# --- errors -----------------------------------------------------------------------------------


def csv_error(path: str, exc: Exception, options: CsvOptions | None = None) -> ArtifactError:
    """A clear error for a CSV file that failed to parse: the file, the line and how to fix
    it (the line is found by scanning the file again)."""
    options = options or CsvOptions()
    text = str(exc)
    if "Empty CSV file" in text:
        return ArtifactError(
            f"{path}: line 1: the file is empty. Write a header line and rows, or remove the "
            "file from the input pattern"
        )
    data = _raw_bytes(path)
    nul = data.find(b"\x00", 0, 1 << 16)
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        return ArtifactError(
            f"{path}: line {line} (byte {nul}): the file holds binary data (a NUL byte), not "
            "CSV text. Check the path, or pass format= if it is Parquet"
        )
    if "UTF8" in text or "utf8" in text.lower() or isinstance(exc, UnicodeDecodeError):
        line, detail = _find_bad_encoding(data, options.encoding)
        return ArtifactError(
            f"{path}: line {line}: the bytes are not valid {options.encoding} ({detail}). Pass "
            "encoding='latin-1' (--encoding latin-1 on the command line) or the file's real "
            "encoding, or re-save the file as UTF-8"
        )
    if "straddling" in text:
        line, length = _longest_line(data)
        return ArtifactError(
            f"{path}: line {line}: a row of {length / (1 << 20):.0f} MiB is longer than the "
            f"reader allows ({_MAX_BLOCK >> 20} MiB). Check the quoting of that row"
        )
    if "Expected" in text and "columns" in text:
        where, expected, got = _find_ragged_row(data, path, options)
        return ArtifactError(
            f"{path}: line {where}: expected {expected} fields like the first row, got {got}. "
            "Fix the row (quote values that contain the separator), check the delimiter, or "
            "remove it"
        )
    first = text.splitlines()[0] if text else type(exc).__name__
    return ArtifactError(f"{path}: line ?: cannot read the CSV file: {first}. Check that it is CSV")


def _find_bad_encoding(data: bytes, encoding: str) -> tuple[int, str]:
    try:
        data.decode(encoding)
    except UnicodeDecodeError as err:
        return data.count(
            b"\n", 0, err.start
        ) + 1, f"byte {data[err.start]:#04x} at offset {err.start}"
    except LookupError:
        return 1, f"unknown encoding {encoding!r}"
    return 1, "invalid text"


def _longest_line(data: bytes) -> tuple[int, int]:
    best, best_len, start, number = 1, 0, 0, 1
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        if end - start > best_len:
            best, best_len = number, end - start
        start, number = end + 1, number + 1
    return best, best_len


def _find_ragged_row(
    data: bytes, path: str, options: CsvOptions
) -> tuple[int | str, int, int | str]:
    text = data.decode(options.encoding, errors="replace")
    reader = csv.reader(io.StringIO(text), delimiter=options.separator(path))
    expected = len(options.column_names) if options.column_names else None
    for row in reader:
        if reader.line_num <= options.skip_rows:
            continue
        if options.comment is not None and row and row[0].startswith(options.comment):
            continue
        if expected is None:
            expected = len(row)
        elif row and len(row) != expected:
            return reader.line_num, expected, len(row)
    return "?", expected or 0, "?"
