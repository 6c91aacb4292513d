"""How to read a CSV file: one options object for ``example_gen`` and the ``conveyor data``
commands, so that both read the same file the same way.

Real files are often not the RFC 4180 CSV with a header that readers assume: the UCI
``adult.data`` has no header, ``", "`` between fields and ``?`` for a missing value;
``german.data`` is space-separated; exports carry ``#`` comment lines or a preamble.

Example:
    >>> opts = CsvOptions.create(header=False, delimiter=", ", null_values=["?"])
    >>> (opts.delimiter, opts.trim_whitespace, opts.null_values)
    (',', True, ('?',))
"""

from __future__ import annotations

import codecs
import dataclasses
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["NULL_VALUES", "CsvHeaderWarning", "CsvOptions", "check_header"]

NULL_VALUES = (
    "",
    "NA",
    "N/A",
    "n/a",
    "NaN",
    "nan",
    "NULL",
    "null",
    "None",
    "#N/A",
    "#NA",
    "-NaN",
    "-nan",
)
"""Texts read as missing values in CSV files (``null_values`` adds to them)."""

_NAMED_DELIMITERS = {"\\t": "\t", "tab": "\t", "space": " ", "comma": ",", "semicolon": ";"}
_HEADER_SAMPLE_ROWS = 1000


class CsvHeaderWarning(UserWarning):
    """The first line of a CSV file read as its header looks like a data row."""


@dataclass(frozen=True)
class CsvOptions:
    """How to read CSV files (every field has the default of a plain CSV with a header).

    Attributes:
        header: whether the first line (after ``skip_rows``) names the columns.
        column_names: the column names; with ``header`` the file's own header line is
            skipped and replaced. Without a header and without names, columns are named
            ``f0``, ``f1``, ...
        delimiter: the field separator, one character (None: ``,``, or a tab for ``.tsv``).
        null_values: texts read as missing values, besides :data:`NULL_VALUES` (e.g. ``?``).
        skip_rows: lines to skip at the start of the file, before the header.
        comment: lines starting with this character are ignored (e.g. ``#``).
        trim_whitespace: strip spaces and tabs around every field (numbers are always read
            with the spaces around them stripped).
        encoding: the text encoding of the file (e.g. ``latin-1``); the file must be valid in it.
    """

    header: bool = True
    column_names: tuple[str, ...] | None = None
    delimiter: str | None = None
    null_values: tuple[str, ...] = ()
    skip_rows: int = 0
    comment: str | None = None
    trim_whitespace: bool = False
    encoding: str = "utf-8"

    @classmethod
    def create(
        cls,
        *,
        header: bool = True,
        column_names: Sequence[str] | None = None,
        delimiter: str | None = None,
        null_values: Sequence[str] | None = None,
        skip_rows: int = 0,
        comment: str | None = None,
        trim_whitespace: bool = False,
        encoding: str = "utf-8",
    ) -> CsvOptions:
        """Checked options from plain values (as component parameters or CLI options give them).

        A delimiter of one character followed by spaces (``", "``) means that character with
        ``trim_whitespace``; ``\\t``, ``tab``, ``space``, ``comma`` and ``semicolon`` name
        their character.

        Raises:
            ValueError: a value that cannot work, saying which and what to give instead.

        Example:
            >>> CsvOptions.create(delimiter="\\\\t").delimiter
            '\\t'
        """
        trim = trim_whitespace
        sep = delimiter
        if sep is not None:
            sep = _NAMED_DELIMITERS.get(sep.lower(), sep)
            if len(sep) > 1 and len(sep.rstrip(" ")) == 1:
                sep, trim = sep.rstrip(" "), True
            if len(sep) != 1 or sep in '\r\n"':
                raise ValueError(
                    f"delimiter {delimiter!r} must be one character (e.g. ',', ';', '\\t' or ' '), "
                    "optionally followed by spaces such as ', '"
                )
        names = None if column_names is None else tuple(str(n) for n in column_names)
        if names is not None:
            dupes = sorted({n for n in names if names.count(n) > 1})
            if not names or dupes or any(not n for n in names):
                raise ValueError(
                    f"column_names must be distinct non-empty names; got {list(names)!r}"
                )
        if isinstance(null_values, str):
            raise ValueError(f"null_values must be a list of texts, e.g. [{null_values!r}]")
        if skip_rows < 0:
            raise ValueError(f"skip_rows must be 0 or more, got {skip_rows!r}")
        if comment is not None and (len(comment) != 1 or comment in "\r\n"):
            raise ValueError(f"comment must be one character such as '#', got {comment!r}")
        if comment is not None and comment == sep:
            raise ValueError(f"comment {comment!r} cannot also be the delimiter")
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(
                f"Unknown encoding {encoding!r}: give a Python codec name such as 'utf-8', "
                "'latin-1' or 'cp1252'"
            ) from None
        return cls(
            header=bool(header),
            column_names=names,
            delimiter=sep,
            null_values=tuple(str(v) for v in null_values or ()),
            skip_rows=int(skip_rows),
            comment=comment,
            trim_whitespace=bool(trim),
            encoding=encoding,
        )

    def separator(self, path: str) -> str:
        """The delimiter for ``path``: the given one, a tab for ``.tsv`` files, else ``,``."""
        if self.delimiter is not None:
            return self.delimiter
        name = path.lower()
        for ext in (".gz", ".bz2", ".zst", ".lz4"):
            name = name.removesuffix(ext)
        return "\t" if name.endswith(".tsv") else ","

    def markers(self) -> list[str]:
        """Every text read as a missing value."""
        return list(dict.fromkeys((*NULL_VALUES, *self.null_values)))

    def utf8(self) -> bool:
        """Whether the file's bytes are read as they are (UTF-8 or ASCII, no transcoding)."""
        return codecs.lookup(self.encoding).name in ("utf-8", "ascii")

    def replace(self, **changes: object) -> CsvOptions:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


def check_header(path: str, table: pa.Table) -> None:
    """Warn (:class:`CsvHeaderWarning`) when the header of ``table``, read from ``path``,
    looks like a data row: a column named by a number, or names that occur again as values
    of their own column. A headerless file read with its first row as names does both.

    Example:
        >>> import warnings
        >>> t = pa.table({"39": ["50", "38"], "State-gov": ["Private", "State-gov"]})
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     check_header("adult.data", t)
        >>> "header=False" in str(caught[0].message)
        True
    """
    names = table.column_names
    numeric = [n for n in names if _NUMBER.match(n)]
    sample = table.slice(0, _HEADER_SAMPLE_ROWS)
    repeated = []
    for i, name in enumerate(names):
        col = sample.column(i)
        if pa.types.is_string(col.type) and pc.any(pc.equal(col, name)).as_py():
            repeated.append(name)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        warnings.warn(
            f"{path}: line 1 was read as the header but names columns {twice[:5]!r} twice. "
            "If the file has no header, pass header=False (--no-header) and column_names "
            "(--column-names)",
            CsvHeaderWarning,
            stacklevel=2,
        )
        return
    if not numeric and len(repeated) < max(1, (len(names) + 1) // 2):
        return
    reason = (
        f"column names {numeric[:5]!r} are numbers"
        if numeric
        else f"column names {repeated[:5]!r} occur again as values of their columns"
    )
    warnings.warn(
        f"{path}: line 1 was read as the header but looks like data ({reason}). If the file "
        "has no header, pass header=False (--no-header) and column_names (--column-names)",
        CsvHeaderWarning,
        stacklevel=2,
    )
