"""``conveyor runs compare``: runs side by side (params, metrics, data, code) and what changed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import click

from conveyor.cli._common import _echo_json, _errors

SECTIONS = ("run", "parameter", "metric", "data", "code")
"""Row groups, in display order."""

_DIGEST_CHARS = 12


def _short(digest: Any) -> Any:
    """A digest shortened for display (``sha256:abcdef...`` -> ``abcdef012345``)."""
    if isinstance(digest, list):
        return [_short(d) for d in digest]
    if not isinstance(digest, str):
        return digest
    return digest.rpartition(":")[2][:_DIGEST_CHARS]


def _code_digest(code: Any) -> str | None:
    """One digest for a task's code closure (the ``code`` part of its cache key)."""
    if not isinstance(code, dict) or not code:
        return None
    if len(code) == 1:
        return str(_short(next(iter(code.values()))))
    blob = json.dumps(code, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:_DIGEST_CHARS]


def _duration(props: dict[str, Any]) -> float | None:
    duration = props.get("duration_seconds")
    if isinstance(duration, int | float):
        return round(float(duration), 3)
    start, end = props.get("started_at"), props.get("finished_at")
    if isinstance(start, int | float) and isinstance(end, int | float):
        return round(end - start, 3)
    return None


def collect_run(store: Any, ctx: Any) -> dict[tuple[str, str], Any]:
    """The rows of one run as ``{(section, name): value}``.

    Queries: the run's executions, their events, their artifacts and the run's metrics (four,
    whatever the number of tasks, artifacts or metric values).
    """
    from conveyor.metadata.entities import EventType

    props = dict(ctx.properties)
    rows: dict[tuple[str, str], Any] = {
        ("run", "state"): props.get("state"),
        ("run", "experiment"): props.get("experiment"),
        ("run", "duration_seconds"): _duration(props),
    }
    if props.get("pipeline"):
        rows[("run", "pipeline")] = props["pipeline"]
    for name, value in sorted(dict(props.get("parameters") or {}).items()):
        rows[("parameter", name)] = value
    for metric in store.get_metrics(context_id=ctx.id):  # ordered by name, step: last wins
        rows[("metric", metric.name)] = metric.value

    newest: dict[str, Any] = {}  # task -> its newest execution (a retry replaces an attempt)
    for execution in store.list_executions(context_id=ctx.id):  # newest first
        newest.setdefault(execution.name, execution)
    by_id = {e.id: e for e in newest.values()}
    events = store.get_events(execution_ids=list(by_id)) if by_id else []
    arts = {a.id: a for a in store.get_artifacts({ev.artifact_id for ev in events})}
    inputs_seen: dict[str, dict[str, Any]] = {}
    for ev in events:
        task = by_id[ev.execution_id].name
        art = arts.get(ev.artifact_id)
        if art is None:
            continue
        if ev.type == EventType.OUTPUT and art.type_name.split("@")[0] == "conveyor.Metrics":
            for name, value in sorted(dict(art.properties).items()):
                if isinstance(value, int | float) and not isinstance(value, bool):
                    rows[("metric", f"{task}.{ev.path}.{name}")] = value
        elif ev.type == EventType.INPUT:
            inputs_seen.setdefault(task, {})[ev.path] = art.fingerprint
    for task in sorted(newest):
        parts = dict(newest[task].properties.get("cache", {}).get("parts") or {})
        data = parts.get("inputs") or inputs_seen.get(task) or {}
        for key, digest in sorted(dict(data).items()):
            rows[("data", f"{task}.{key}")] = _short(digest)
        code = _code_digest(parts.get("code"))
        if code is not None:
            rows[("code", task)] = code
    return rows


def compare_runs(store: Any, run_ids: Sequence[str]) -> dict[str, Any]:
    """The comparison of ``run_ids`` as JSON-ready data: one row per fact, one value per run.

    Raises:
        NotFoundError: a run id is unknown.
    """
    from conveyor.cli.inspect import _run_context

    contexts = [_run_context(store, run_id) for run_id in run_ids]
    per_run = [collect_run(store, ctx) for ctx in contexts]
    keys = sorted(
        {key for rows in per_run for key in rows},
        key=lambda k: (SECTIONS.index(k[0]), k[1]),
    )
    table = []
    for section, name in keys:
        values = [rows.get((section, name)) for rows in per_run]
        # wall time always varies: shown, but not a change between the runs
        differs = name != "duration_seconds" and any(v != values[0] for v in values[1:])
        table.append({"section": section, "name": name, "values": values, "differs": differs})
    return {"runs": [ctx.name for ctx in contexts], "rows": table}


def _cell(section: str, name: str, value: Any) -> str:
    if value is None:
        return "-"
    if section == "run" and name == "duration_seconds":
        return f"{value:.2f}s"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


@click.command()
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN_ID RUN_ID...")
@click.option("--only-diff", is_flag=True, help="Show only the rows that differ between runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_errors
def compare(run_ids: tuple[str, ...], only_diff: bool, as_json: bool) -> None:
    """Compare runs side by side: parameters, final metrics, data and code fingerprints.

    Rows that differ between the runs are highlighted. Metrics are the last step of each
    logged metric plus the values of the runs' Metrics artifacts; data fingerprints are the
    digests of each task's inputs, code fingerprints the digest of each task's code.
    """
    from conveyor.cli.inspect import _store

    if len(run_ids) < 2:
        raise click.UsageError("Give at least two run ids (see: conveyor runs list).")
    store = _store(reconcile=True)
    try:
        data = compare_runs(store, run_ids)
    finally:
        store.close()
    if only_diff:
        data["rows"] = [row for row in data["rows"] if row["differs"]]
    if as_json:
        _echo_json(data)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(header_style="bold", box=None, pad_edge=False)
    table.add_column("", style="dim", no_wrap=True)
    table.add_column("")
    for run_id in data["runs"]:
        table.add_column(run_id, overflow="fold")
    previous = None
    for row in data["rows"]:
        section = row["section"] if row["section"] != previous else ""
        if section and previous is not None:
            table.add_section()
        previous = row["section"]
        cells = [_cell(row["section"], row["name"], v) for v in row["values"]]
        table.add_row(
            section,
            ("≠ " if row["differs"] else "  ") + row["name"],
            *cells,
            style="bold yellow" if row["differs"] else None,
        )
    console = Console(highlight=False)
    if not data["rows"]:
        console.print("No differences." if only_diff else "Nothing recorded for these runs.")
        return
    console.print(table)
    changed = sum(row["differs"] for row in data["rows"])
    console.print(f"[dim]{changed} of {len(data['rows'])} rows differ.[/]")
