"""``conveyor data``: statistics of a data file without writing a pipeline."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from conveyor.cli._common import _console, _echo_json, _errors
from conveyor.cli._csv import csv_options

if TYPE_CHECKING:
    from conveyor.data.csv_options import CsvOptions

__all__ = ["data"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def data() -> None:
    """Statistics, schema and validation of data files (CSV, Parquet, JSON Lines)."""


@data.command()
@click.argument("source", nargs=-1, required=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write the JSON here."
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write a self-contained HTML report here.",
)
@click.option(
    "--slice",
    "slices",
    multiple=True,
    metavar="COL",
    help="Also compute statistics per value of COL (repeatable).",
)
@click.option("--weight", default=None, metavar="COL", help="Numeric column of example weights.")
@click.option("--split", default="all", show_default=True, help="Name of the data set.")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON only.")
@csv_options
@_errors
def stats(
    source: Sequence[str],
    output: str | None,
    html_path: str | None,
    slices: Sequence[str],
    weight: str | None,
    split: str,
    as_json: bool,
    csv: CsvOptions,
    file_format: str,
) -> None:
    """Compute statistics of SOURCE (files, folders or globs) and print a table.

    Example: conveyor data stats census.csv -o stats.json --html stats.html --slice sex

    A headerless file with '?' for missing values and ', ' between fields (UCI adult.data):
    conveyor data stats adult.data --format csv --no-header --column-names age,workclass,...
    --delimiter ', ' --null-value '?'
    """
    from conveyor.data.stats import compute_statistics
    from conveyor.errors import ArtifactNotFoundError

    try:
        result = compute_statistics(
            list(source),
            split=split,
            slice_by=slices,
            weight_column=weight,
            csv=csv,
            format=file_format,
        )
    except ArtifactNotFoundError as exc:
        raise click.BadParameter(str(exc), param_hint="SOURCE") from exc
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    payload = result.to_dict()
    if output:
        _write(output, json.dumps(payload))
    if html_path:
        from conveyor.data.render import statistics_html

        _write(html_path, statistics_html(result, title=", ".join(source)))
    if as_json:
        _echo_json(payload)
        return
    from conveyor.data.render import print_statistics

    print_statistics(result, _console())
    for path in (output, html_path):
        if path:
            _console().print(f"wrote {path}")


def _write(path: str, text: str) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
