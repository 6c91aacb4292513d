"""``conveyor predict``: score a file with a saved model (see docs/batch-scoring.md)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from conveyor.cli._common import _console, _errors
from conveyor.cli._csv import csv_options

__all__ = ["predict"]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model")
@click.argument("data")
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="OUT",
    help="Where to write the predictions (a path or fsspec URL; format by extension).",
)
@click.option(
    "--output-format",
    type=click.Choice(["auto", "csv", "parquet", "jsonl"]),
    default="auto",
    show_default=True,
    help="The format of OUT (auto: by its extension).",
)
@click.option("--id-column", default=None, metavar="COL", help="Copy COL of DATA to OUT.")
@click.option(
    "--chunk-rows",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="Rows read, scored and written at a time (memory grows with it, not with DATA).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Chunks scored at once [default: every core].",
)
@csv_options
@_errors
def predict(
    model: str,
    data: str,
    output: str,
    output_format: str,
    id_column: str | None,
    chunk_rows: int,
    workers: int | None,
    csv: Any,
    file_format: str,
) -> None:
    """Score every row of DATA with MODEL and write the predictions to OUT.

    MODEL is a saved model folder (a trainer's model, or a pushed version). DATA is a CSV,
    Parquet or JSON Lines file (path or fsspec URL), read in chunks; --format gives its
    format when the extension does not. OUT gets the id column, 'prediction' and, for
    classifiers, 'probability_<class>' per class; it is written under a temporary name and
    renamed at the end, so a failure leaves nothing at OUT.

    Example: conveyor predict serving/census/1 census.parquet -o scored.parquet --id-column id
    """
    from conveyor.model.batch import score_file

    stderr = _console(stderr=True)
    options: dict[str, Any] = {
        "id_column": id_column,
        "input_format": file_format,
        "output_format": output_format,
        "csv": csv,
        "chunk_rows": chunk_rows,
        "workers": workers,
    }
    try:
        if sys.stderr.isatty():
            result = _with_bar(
                stderr,
                lambda progress: score_file(model, data, output, progress=progress, **options),
            )
        else:
            result = score_file(model, data, output, **options)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    stderr.print(
        f"wrote {result.rows:,} rows to {result.output} ({result.format}) in "
        f"{result.seconds:.1f} s, {result.rows_per_second:,.0f} rows/s",
        soft_wrap=True,
    )


def _with_bar(console: Any, run: Callable[[Any], Any]) -> Any:
    """``run(progress)`` with a Rich progress bar (rows, and a total when the input has one)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("scoring", total=None)

        def step(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        return run(step)
