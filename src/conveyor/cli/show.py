"""``conveyor show ARTIFACT_ID``: the human view of an artifact, by its type."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import click

from conveyor.cli._common import _echo_json, _errors, _settings
from conveyor.cli.show_model import MODEL_VIEWS

__all__ = ["show"]


def _table(title: str, columns: list[str], rows: list[list[str]]) -> Any:
    from rich.table import Table

    table = Table(title=title, header_style="bold", title_justify="left")
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def _show_examples(art: Any, console: Any) -> None:
    props = art.properties
    counts = props.get("row_counts", {})
    rows = [
        [
            split,
            f"{counts.get(split, '?'):,}"
            if isinstance(counts.get(split), int)
            else str(counts.get(split, "?")),
        ]
        for split in props.get("split_names", counts)
    ]
    console.print(_table(f"Examples #{art.id}  {art.uri}", ["split", "rows"], rows))
    columns = props.get("columns", {})
    if columns:
        console.print(
            _table("columns", ["column", "type"], [[k, str(v)] for k, v in columns.items()])
        )
    for key in ("span", "version"):
        if props.get(key) is not None:
            console.print(f"{key}: {props[key]}")


def _show_schema(art: Any, console: Any) -> None:
    from conveyor.data.schema import load_schema

    schema = load_schema(_in(art, "schema.yaml"))
    rows = []
    for f in schema.features:
        domain = (
            ", ".join(f.values[:8]) + (" ..." if len(f.values) > 8 else "")
            if f.values
            else (f"[{f.min}, {f.max}]" if f.min is not None or f.max is not None else "")
        )
        rows.append([f.name, f.type.value, f"{f.min_fraction_present:.0%}", domain])
    console.print(_table(f"Schema #{art.id}", ["feature", "type", "presence", "domain"], rows))


def _show_statistics(art: Any, console: Any) -> None:
    from conveyor.data.model import StatisticsCollection
    from conveyor.data.render import print_statistics

    with open(_in(art, "statistics.json"), encoding="utf-8") as fh:
        stats = StatisticsCollection.from_dict(json.load(fh))
    print_statistics(stats, console)


def _show_anomalies(art: Any, console: Any) -> None:
    with open(_in(art, "anomalies.json"), encoding="utf-8") as fh:
        data = json.load(fh)
    rows = [
        [path, info["severity"], info["short_description"], info["description"]]
        for path, info in sorted(data.get("anomaly_info", {}).items())
    ]
    dataset = data.get("dataset_anomaly_info")
    if dataset:
        rows.append(
            ["(dataset)", dataset["severity"], dataset["short_description"], dataset["description"]]
        )
    if not rows:
        console.print(f"[green]No anomalies[/] (artifact #{art.id})")
        return
    console.print(
        _table(f"Anomalies #{art.id}", ["feature", "severity", "anomaly", "detail"], rows)
    )


def _show_metrics(art: Any, console: Any) -> None:
    rows = [
        [k, f"{v:.6g}" if isinstance(v, float) else str(v)]
        for k, v in sorted(art.properties.items())
    ]
    console.print(_table(f"Metrics #{art.id}", ["metric", "value"], rows))


def _in(art: Any, name: str) -> str:
    """A file of a folder artifact (local artifact stores)."""
    path = os.path.join(art.uri, name)
    if not os.path.exists(path) and os.path.isfile(art.uri):
        return str(art.uri)
    return path


VIEWS: dict[str, Callable[[Any, Any], None]] = {
    "conveyor.Examples": _show_examples,
    "conveyor.Schema": _show_schema,
    "conveyor.ExampleStatistics": _show_statistics,
    "conveyor.ExampleAnomalies": _show_anomalies,
    "conveyor.Metrics": _show_metrics,
    **MODEL_VIEWS,
}
"""Views by artifact type title; other types show their record (as ``artifacts show``)."""


@click.command()
@click.argument("artifact_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the artifact's record as JSON.")
@_errors
def show(artifact_id: int, as_json: bool) -> None:
    """The human view of ARTIFACT_ID: statistics, schema, anomalies, examples, metrics,
    evaluations, blessings, pushes and model cards."""
    from rich.console import Console

    from conveyor.cli.inspect import _artifact_dict
    from conveyor.metadata import connect

    art = connect(_settings().metadata_url).get_artifact(artifact_id)
    if as_json:
        _echo_json(_artifact_dict(art))
        return
    view = VIEWS.get(art.type_name.split("@")[0])
    console = Console(highlight=False)
    if view is None:
        console.print(f"{art.type_name} #{art.id}: {art.uri}")
        console.print(json.dumps(dict(art.properties), indent=2, sort_keys=True, default=str))
        return
    view(art, console)
