"""ExampleGen: ingest CSV, Parquet, JSON Lines or SQL data as split Parquet ``Examples``.

``example_gen`` is cached on the content of the files it would read: before each run the
input pattern is resolved (the latest span and version included) and every file's digest
joins the cache key, so an unchanged data set is not read again and a changed file or a new
span reruns it. ``sql_example_gen`` always runs (a database has no digest to check); steps
downstream are keyed on the ``Examples`` content digest and stay cached while the rows are
the same.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from conveyor._internal.paths import is_remote
from conveyor.data.files import expand_paths
from conveyor.data.spans import has_placeholders, resolve_pattern
from conveyor.dsl import Output, component
from conveyor.errors import ArtifactError
from conveyor.storage import content_digest
from conveyor.types import Examples

if TYPE_CHECKING:
    import pyarrow as pa

# Arrow and the readers are imported in the steps' bodies: a pipeline file imports this module
# even when every step comes from the cache (the cache key needs only the files' digests).

__all__ = ["example_gen", "sql_example_gen"]

_ROWS_PER_PART = 1_000_000
_MAX_LISTED_FILES = 1000
_SPLIT_ORDER = ("train", "eval", "test")


def _write(
    examples: Examples,
    parts: dict[str, pa.Table],
    ratios: dict[str, float] | None,
    extra: dict[str, Any],
) -> int:
    import pyarrow.parquet as pq

    from conveyor.data.io import feature_types

    os.makedirs(examples.path, exist_ok=True)
    counts: dict[str, int] = {}
    schema = next(iter(parts.values())).schema
    for name, table in parts.items():
        folder = examples.split_path(name)
        os.makedirs(folder, exist_ok=True)
        table = table.combine_chunks()
        for n, start in enumerate(range(0, max(table.num_rows, 1), _ROWS_PER_PART)):
            chunk = table.slice(start, _ROWS_PER_PART)
            pq.write_table(chunk, os.path.join(folder, f"part-{n:05d}.parquet"))
        counts[name] = table.num_rows
    examples.metadata.update(
        {
            "split_names": list(parts),
            "row_counts": counts,
            "columns": {k: v.value for k, v in feature_types(schema).items()},
            **({"split_ratios": ratios} if ratios is not None else {}),
            **extra,
        }
    )
    return sum(counts.values())


def _ordered(names: list[str]) -> list[str]:
    known = [n for n in _SPLIT_ORDER if n in names]
    return known + sorted(n for n in names if n not in _SPLIT_ORDER)


def _sources(files: list[str]) -> dict[str, Any]:
    return {
        "source_files": files[:_MAX_LISTED_FILES],
        "source_file_count": len(files),
    }


def _resolve(
    input_pattern: str,
    presplit: bool,
    span: int | None,
    version: int | None,
    span_range: list[int] | None,
) -> tuple[str, Any, list[str]]:
    """The pattern, the span selection (None without placeholders) and the files to read."""
    pattern = input_pattern
    if presplit and "{SPLIT}" not in pattern:
        pattern = pattern.rstrip("/") + "/{SPLIT}/*"
    if not has_placeholders(pattern):
        return pattern, None, expand_paths(pattern)
    selection = resolve_pattern(
        pattern,
        span=span,
        version=version,
        span_range=(span_range[0], span_range[1]) if span_range else None,
    )
    files = list(selection.files)
    for split_files in (selection.splits or {}).values():
        files.extend(f for f in split_files if f not in files)
    return pattern, selection, files


def _file_digest(path: str) -> str:
    if is_remote(path):
        import fsspec

        fs, remote = fsspec.core.url_to_fs(path)
        return f"ukey:{fs.ukey(remote)}"  # the store's own version key (etag, checksum)
    return content_digest(path.removeprefix("file://"))


def _input_digests(
    input_pattern: str,
    presplit: bool = False,
    span: int | None = None,
    version: int | None = None,
    span_range: list[int] | None = None,
    **_other: Any,
) -> dict[str, str]:
    """Digest of every file ``example_gen`` would read with these parameters."""
    _, _, files = _resolve(input_pattern, presplit, span, version, span_range)
    return {path: _file_digest(path) for path in files}


@component(cache_inputs=_input_digests)
def example_gen(
    input_pattern: str,
    examples: Output[Examples],
    format: str = "auto",
    split_ratios: dict[str, float] | None = None,
    split_key: str | None = None,
    presplit: bool = False,
    column_types: dict[str, str] | None = None,
    span: int | None = None,
    version: int | None = None,
    span_range: list[int] | None = None,
    encoding: str = "utf-8",
    header: bool = True,
    column_names: list[str] | None = None,
    delimiter: str | None = None,
    null_values: list[str] | None = None,
    skip_rows: int = 0,
    comment: str | None = None,
    trim_whitespace: bool = False,
) -> int:
    """Read tabular files into an ``Examples`` artifact, split deterministically.

    Cached on the files' content: the pattern is resolved before each run (the latest span
    included) and the digest of every file it names is part of the cache key, so the same
    bytes are not read twice and a changed file or a new span reruns the step.

    Args:
        input_pattern: path, folder, glob or fsspec URL; may hold ``{SPAN}``, ``{VERSION}``
            (latest span and version by default) and ``{SPLIT}`` (pre-split folders).
        format: ``auto`` (by extension), ``csv``, ``parquet`` or ``jsonl``.
        split_ratios: split name to fraction, in split order (default
            ``{"train": 0.8, "eval": 0.2}``; add ``"test"`` for a third split).
        split_key: hash this column instead of the whole row (rows of a key stay together).
        presplit: read splits from folders (``<input_pattern>/<split>/*`` or ``{SPLIT}``).
        column_types: overrides of inferred types, e.g. ``{"zip": "STRING"}``.
        span: the span to read (None: the latest).
        version: the version to read (None: the span's latest).
        span_range: ``[first, last]`` spans to read together (inclusive).
        encoding: text encoding of CSV files (e.g. ``latin-1``); invalid bytes fail the step.
        header: whether CSV files start with a header line (False: give ``column_names``,
            or columns are named ``f0``, ``f1``, ...).
        column_names: the CSV column names (replacing the header line when there is one).
        delimiter: the CSV field separator (default ``,``, a tab for ``.tsv``); ``", "``
            means ``,`` with ``trim_whitespace``.
        null_values: texts read as missing values besides ``NA``, ``NULL``, ... (e.g. ``["?"]``).
        skip_rows: lines to skip at the start of each CSV file, before the header.
        comment: CSV lines starting with this character are ignored (e.g. ``"#"``).
        trim_whitespace: strip spaces around every CSV field.

    Returns:
        The number of rows written over all splits.

    Example:
        >>> from conveyor.components.data import example_gen
        >>> sorted(example_gen.spec.output_artifacts)
        ['examples']
    """
    from conveyor.data.io import CsvOptions, read_table
    from conveyor.data.splits import normalize_ratios, split_table

    csv = CsvOptions.create(
        header=header,
        column_names=column_names,
        delimiter=delimiter,
        null_values=null_values,
        skip_rows=skip_rows,
        comment=comment,
        trim_whitespace=trim_whitespace,
        encoding=encoding,
    )
    pattern, selection, files = _resolve(input_pattern, presplit, span, version, span_range)
    if selection is not None and not presplit:
        files = list(selection.files)
    extra: dict[str, Any] = {"format": format, **_sources(files)}
    if selection is not None:
        extra.update({"span": selection.span, "version": selection.version})
        if len(selection.spans) > 1:
            extra["spans"] = {str(k): v for k, v in selection.spans.items()}
    if presplit:
        assert selection is not None
        if not selection.splits:
            raise ArtifactError(f"No split folders found for {pattern!r}: expected <split>/files")
        parts = {
            name: read_table(
                selection.splits[name],
                format=format,
                column_types=column_types,
                csv=csv,
            )
            for name in _ordered(list(selection.splits))
        }
        schemas = {name: t.schema for name, t in parts.items()}
        first = next(iter(schemas.values()))
        for name, schema in schemas.items():
            if schema != first:
                raise ArtifactError(
                    f"Split {name!r} of {pattern!r} has columns {schema.names!r} typed "
                    f"differently from the others; pass column_types to align them"
                )
        return _write(examples, parts, None, extra)
    ratios = normalize_ratios(split_ratios or {"train": 0.8, "eval": 0.2})
    table = read_table(files, format=format, column_types=column_types, csv=csv)
    extra["split_key"] = split_key
    if split_key is not None and split_key not in table.column_names:
        raise ArtifactError(
            f"split_key {split_key!r} is not a column of {input_pattern!r}; the columns are "
            f"{table.column_names!r}"
        )
    return _write(examples, split_table(table, ratios, key=split_key), ratios, extra)


@component(cache=False)
def sql_example_gen(
    url: str,
    query: str,
    examples: Output[Examples],
    split_ratios: dict[str, float] | None = None,
    split_key: str | None = None,
    column_types: dict[str, str] | None = None,
) -> int:
    """Run a SQL query (SQLAlchemy URL) and write its rows as split ``Examples``.

    Never cached, for the same reason as :func:`example_gen`: the database can change
    while the query stays the same.

    Args:
        url: SQLAlchemy database URL, e.g. ``sqlite:///shop.db`` or ``postgresql://...``.
        query: the SELECT to run.
        split_ratios: split name to fraction (default ``{"train": 0.8, "eval": 0.2}``).
        split_key: hash this column instead of the whole row.
        column_types: overrides of the result's types.

    Returns:
        The number of rows written over all splits.

    Example:
        >>> from conveyor.components.data import sql_example_gen
        >>> "query" in sql_example_gen.spec.input_parameters
        True
    """
    from conveyor.data.io import read_sql
    from conveyor.data.splits import normalize_ratios, split_table

    ratios = normalize_ratios(split_ratios or {"train": 0.8, "eval": 0.2})
    table = read_sql(url, query, column_types=column_types)
    if split_key is not None and split_key not in table.column_names:
        raise ArtifactError(
            f"split_key {split_key!r} is not a column of the query's result; the columns are "
            f"{table.column_names!r}"
        )
    extra = {"source_query": query, "split_key": split_key}
    return _write(examples, split_table(table, ratios, key=split_key), ratios, extra)
