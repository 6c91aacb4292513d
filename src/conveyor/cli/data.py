"""``conveyor data``: statistics of a data file without writing a pipeline."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from conveyor.cli._common import _console, _echo_json, _errors
from conveyor.cli._csv import csv_options
from conveyor.cli._predlogs import log_options

if TYPE_CHECKING:
    from conveyor.data.csv_options import CsvOptions
    from conveyor.data.model import StatisticsCollection
    from conveyor.data.prediction_logs import LogSelection

__all__ = ["data"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def data() -> None:
    """Statistics, schema and validation of data files (CSV, Parquet, JSON Lines)."""


@data.command()
@click.argument("source", nargs=-1)
@click.option(
    "--from-predictions",
    "log_dir",
    default=None,
    metavar="DIR",
    help="Statistics of the model inputs logged by conveyor serve --log-predictions under DIR "
    "(instead of SOURCE): the serving data for skew checks.",
)
@click.option(
    "--outputs",
    is_flag=True,
    help="With --from-predictions: the statistics of the logged answers (predictions, one "
    "probabilities[CLASS] per class) instead of the inputs.",
)
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
@click.option("--split", default=None, help="Name of the data set (default all; serving for logs).")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON only.")
@csv_options
@log_options
@_errors
def stats(
    source: Sequence[str],
    log_dir: str | None,
    outputs: bool,
    output: str | None,
    html_path: str | None,
    slices: Sequence[str],
    weight: str | None,
    split: str | None,
    as_json: bool,
    csv: CsvOptions,
    file_format: str,
    logs: LogSelection,
) -> None:
    """Compute statistics of SOURCE (files, folders or globs) and print a table.

    Example: conveyor data stats census.csv -o stats.json --html stats.html --slice sex

    A headerless file with '?' for missing values and ', ' between fields (UCI adult.data):
    conveyor data stats adult.data --format csv --no-header --column-names age,workclass,...
    --delimiter ', ' --null-value '?'

    What a server logged (conveyor serve --log-predictions), over a time window:
    conveyor data stats --from-predictions prediction_logs/census --since 1d -o serving.json
    """
    if bool(source) == bool(log_dir):
        raise click.UsageError("Give SOURCE files or --from-predictions DIR (one of the two)")
    if log_dir is not None:
        if slices or weight:
            raise click.UsageError("--slice and --weight apply to SOURCE files, not to logs")
        result = _log_statistics(log_dir, logs, split or "serving", outputs)
    else:
        if outputs:
            raise click.UsageError("--outputs applies to --from-predictions only")
        result = _file_statistics(source, split or "all", slices, weight, csv, file_format)
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


def _file_statistics(
    source: Sequence[str],
    split: str,
    slices: Sequence[str],
    weight: str | None,
    csv: CsvOptions,
    file_format: str,
) -> StatisticsCollection:
    from conveyor.data.stats import compute_statistics
    from conveyor.errors import ArtifactNotFoundError

    try:
        return compute_statistics(
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


def _log_statistics(
    log_dir: str, logs: LogSelection, split: str, outputs: bool
) -> StatisticsCollection:
    from conveyor.data.prediction_logs import INPUTS, OUTPUTS, statistics_of_prediction_logs
    from conveyor.errors import ArtifactError

    try:
        part = OUTPUTS if outputs else INPUTS
        return statistics_of_prediction_logs(log_dir, logs, split=split, part=part)
    except ArtifactError as exc:
        raise click.BadParameter(str(exc), param_hint="--from-predictions") from exc


def _write(path: str, text: str) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
