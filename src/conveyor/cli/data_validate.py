"""``conveyor data infer-schema`` and ``conveyor data validate``: schema and validation of a
data file or statistics without writing a pipeline.

Exit codes of ``validate``: 0 no anomalies, 1 anomalies found, 2 usage error (bad arguments,
unreadable data, statistics or schema file).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, NoReturn

import click

from conveyor.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, _console, _echo_json
from conveyor.cli._csv import csv_options
from conveyor.cli._predlogs import log_options
from conveyor.data.csv_options import CsvOptions
from conveyor.data.model import DataSchema, DatasetStatistics, StatisticsCollection
from conveyor.data.prediction_logs import (
    LogSelection,
    is_prediction_log_dir,
    statistics_of_prediction_logs,
)
from conveyor.data.schema import (
    DEFAULT_MAX_CATEGORICAL_VALUES,
    infer_schema,
    load_schema,
    save_schema,
    select_split,
)
from conveyor.data.validate import anomaly_count, print_anomalies, validate_statistics
from conveyor.errors import ConveyorError

__all__ = ["convert_schema_command", "infer_schema_command", "validate_command"]


def _fail(message: str) -> NoReturn:
    from rich.markup import escape

    _console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    sys.exit(EXIT_USAGE)


def _is_statistics(path: str) -> str | None:
    """The statistics.json file ``path`` points at, or None when it is a data file."""
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "statistics.json")):
        return os.path.join(path, "statistics.json")
    if path.endswith(".json"):
        try:
            with open(path, encoding="utf-8") as fh:
                head = fh.read(4096)
        except (OSError, UnicodeDecodeError):
            return None
        if '"datasets"' in head:
            return path
    return None


def load_statistics(
    path: str,
    csv: CsvOptions | None = None,
    file_format: str = "auto",
    logs: LogSelection | None = None,
) -> StatisticsCollection:
    """Statistics from a ``statistics.json`` (or an ExampleStatistics folder), of the model
    inputs in a prediction log folder (the rows ``logs`` picks), or computed from a data
    file with ``conveyor.data.stats.compute_statistics`` (read with ``csv``)."""
    if is_prediction_log_dir(path):
        try:
            return statistics_of_prediction_logs(path, logs or LogSelection())
        except ConveyorError as exc:
            raise click.UsageError(str(exc)) from exc
    stats_file = _is_statistics(path)
    if stats_file is not None:
        try:
            with open(stats_file, encoding="utf-8") as fh:
                return StatisticsCollection.from_dict(json.load(fh))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise click.UsageError(
                f"Cannot read the statistics file {stats_file!r}: {exc}"
            ) from exc
    if not os.path.exists(path) and "://" not in path:
        raise click.UsageError(f"No such data or statistics file: {path!r}")
    from conveyor.data.stats import compute_statistics

    try:
        result: StatisticsCollection = compute_statistics(path, csv=csv, format=file_format)
    except (ConveyorError, OSError, ValueError) as exc:
        raise click.UsageError(f"Cannot compute statistics of {path!r}: {exc}") from exc
    return result


def _dataset(
    source: str,
    split: str | None,
    csv: CsvOptions,
    file_format: str,
    logs: LogSelection | None = None,
) -> DatasetStatistics:
    """The statistics of one split of ``source`` (see :func:`load_statistics`)."""
    stats = load_statistics(source, csv, file_format, logs)
    unsliced = [d for d in stats.datasets if d.slice is None]
    if split is None and len(unsliced) == 1:
        return unsliced[0]
    try:
        return select_split(stats, split or "eval")
    except ValueError as exc:
        raise click.UsageError(f"{source}: {exc}; choose one with --split") from exc


@click.command("infer-schema")
@click.argument("data", metavar="DATA_OR_STATS")
@click.option(
    "-o",
    "--output",
    default="schema.yaml",
    show_default=True,
    help="Where to write the schema (.yaml/.yml, .json, or .pbtxt for TFDV).",
)
@click.option("--split", default=None, help="The split to infer from (default: the only one).")
@click.option(
    "--max-categorical-values",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_CATEGORICAL_VALUES,
    show_default=True,
    help="Strings with at most this many distinct values get their values as a domain.",
)
@click.option("--infer-ranges", is_flag=True, help="Record the observed min/max of numerics.")
@csv_options
def infer_schema_command(
    data: str,
    output: str,
    split: str | None,
    max_categorical_values: int,
    infer_ranges: bool,
    csv: CsvOptions,
    file_format: str,
) -> None:
    """Infer a schema from DATA_OR_STATS (a data file or a statistics.json), to curate."""
    dataset = _dataset(data, split, csv, file_format)
    schema = infer_schema(
        StatisticsCollection([dataset]),
        split=dataset.name,
        max_categorical_values=max_categorical_values,
        infer_ranges=infer_ranges,
    )
    save_schema(schema, output)
    click.echo(f"Wrote a schema of {len(schema.features)} features to {output}; curate it.")


@click.command("validate")
@click.argument("data", metavar="DATA")
@click.option(
    "--schema",
    "schema_path",
    required=True,
    help="The schema file (YAML, JSON, or TFDV's schema.pbtxt).",
)
@click.option(
    "--baseline",
    default=None,
    metavar="DATA_OR_STATS",
    help="The previous span: checks drift and the row-count change.",
)
@click.option(
    "--serving",
    default=None,
    metavar="DATA_STATS_OR_LOGS",
    help="Serving data (a file, statistics, or a prediction log folder): checks "
    "training/serving skew with the schema's skew_comparator thresholds.",
)
@click.option("--environment", default=None, help="E.g. SERVING: the label is not expected.")
@click.option("--split", default=None, help="The split to check (default: the only one).")
@click.option("--json", "as_json", is_flag=True, help="Print the anomalies as JSON.")
@csv_options
@log_options
def validate_command(
    data: str,
    schema_path: str,
    baseline: str | None,
    serving: str | None,
    environment: str | None,
    split: str | None,
    as_json: bool,
    csv: CsvOptions,
    file_format: str,
    logs: LogSelection,
) -> None:
    """Validate DATA (a data file, a statistics.json or a prediction log folder) against a
    schema.

    Exits 1 when anything is anomalous, 0 when the data is clean, 2 on a usage error.
    The CSV options apply to DATA, --baseline and --serving alike, the prediction log
    options (--since, --until, --role, --model, --model-version) to any of them that is a
    prediction log folder.

    Training/serving skew of a served model's real traffic:
    conveyor data validate train_stats.json --schema schema.yaml --serving
    prediction_logs/census --since 1d
    """
    try:
        schema = load_schema(schema_path)
    except ConveyorError as exc:
        _fail(str(exc))
    stats = _dataset(data, split, csv, file_format, logs)
    previous = _dataset(baseline, split, csv, file_format, logs) if baseline else None
    serving_stats = _dataset(serving, split, csv, file_format, logs) if serving else None
    if serving_stats is not None:
        _warn_without_skew_comparators(schema)
    found = validate_statistics(
        stats, schema, environment=environment, previous=previous, serving=serving_stats
    )
    if as_json:
        out: dict[str, Any] = found.to_dict()
        _echo_json(out)
    else:
        print_anomalies(found, _console())
    sys.exit(EXIT_FAILED if anomaly_count(found) else EXIT_OK)


def _warn_without_skew_comparators(schema: DataSchema) -> None:
    if any(f.skew_comparator is not None for f in schema.features):
        return
    _console(stderr=True).print(
        "[bold yellow]warning:[/] the schema sets no skew_comparator, so --serving checks no "
        "skew. Add one to the features to compare, e.g. skew_comparator: {infinity_norm: "
        "0.1} for a category, {jensen_shannon_divergence: 0.1} for a number",
        soft_wrap=True,
    )


@click.command("convert-schema")
@click.argument("source", metavar="SCHEMA")
@click.option(
    "-o",
    "--output",
    required=True,
    help="The file to write: .pbtxt (TFDV), .yaml/.yml or .json (Conveyor).",
)
def convert_schema_command(source: str, output: str) -> None:
    """Convert a schema between TFDV's schema.pbtxt and Conveyor's YAML or JSON.

    Example: conveyor data convert-schema schema.pbtxt -o schema.yaml (and back with
    conveyor data convert-schema schema.yaml -o schema.pbtxt).
    """
    try:
        schema = load_schema(source)
        save_schema(schema, output)
    except ConveyorError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"Cannot write {output!r}: {exc}")
    domains = f" and {len(schema.string_domains)} string domains" if schema.string_domains else ""
    click.echo(f"Wrote a schema of {len(schema.features)} features{domains} to {output}.")
