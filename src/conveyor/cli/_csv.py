"""The CSV options of the ``conveyor data`` commands: the same ``CsvOptions`` as the
``example_gen`` parameters, so a file reads the same way in both."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

import click

from conveyor.cli._common import _console

__all__ = ["csv_options", "show_csv_warnings"]

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = (
    click.option(
        "--format",
        "file_format",
        type=click.Choice(["auto", "csv", "parquet", "jsonl"]),
        default="auto",
        show_default=True,
        help="The file format (auto: by extension; give csv for .data, .test, ...).",
    ),
    click.option(
        "--header/--no-header",
        default=True,
        show_default=True,
        help="Whether CSV files start with a header line.",
    ),
    click.option(
        "--column-names",
        default=None,
        metavar="A,B,...",
        help="CSV column names, comma-separated (replace the header line when there is one).",
    ),
    click.option(
        "--delimiter",
        default=None,
        help="CSV field separator (default ','; '\\t' or tab, space; ', ' also trims spaces).",
    ),
    click.option(
        "--null-value",
        "null_values",
        multiple=True,
        metavar="TEXT",
        help="A text read as a missing value, besides NA, NULL, ... (repeatable), e.g. '?'.",
    ),
    click.option(
        "--skip-rows", type=click.IntRange(min=0), default=0, help="Lines to skip at the start."
    ),
    click.option("--comment", default=None, metavar="CHAR", help="Ignore lines starting with it."),
    click.option("--trim-whitespace", is_flag=True, help="Strip spaces around every CSV field."),
    click.option(
        "--encoding", default="utf-8", show_default=True, help="Text encoding, e.g. latin-1."
    ),
)


def csv_options(fn: F) -> F:
    """Add the CSV options to a command; it receives them as one ``csv`` CsvOptions argument
    (and ``file_format``)."""

    @wraps(fn)
    def wrapper(
        *args: Any,
        header: bool,
        column_names: str | None,
        delimiter: str | None,
        null_values: Sequence[str],
        skip_rows: int,
        comment: str | None,
        trim_whitespace: bool,
        encoding: str,
        **kwargs: Any,
    ) -> Any:
        from conveyor.data.csv_options import CsvOptions

        names = None
        if column_names is not None:
            names = [n.strip() for n in column_names.split(",")]
        try:
            csv = CsvOptions.create(
                header=header,
                column_names=names,
                delimiter=delimiter,
                null_values=list(null_values),
                skip_rows=skip_rows,
                comment=comment,
                trim_whitespace=trim_whitespace,
                encoding=encoding,
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        with show_csv_warnings():
            return fn(*args, csv=csv, **kwargs)

    out: Any = wrapper
    for option in reversed(_OPTIONS):
        out = option(out)
    return out  # type: ignore[no-any-return]


@contextmanager
def show_csv_warnings() -> Iterator[None]:
    """Print a CSV header warning as ``warning: ...`` on stderr, as it happens."""
    from rich.markup import escape

    from conveyor.data.csv_options import CsvHeaderWarning

    original = warnings.showwarning

    def show(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, CsvHeaderWarning):
            _console(stderr=True).print(f"[bold yellow]warning:[/] {escape(str(message))}")
        else:
            original(message, category, *args, **kwargs)

    with warnings.catch_warnings():
        warnings.simplefilter("always", CsvHeaderWarning)
        warnings.showwarning = show
        yield
