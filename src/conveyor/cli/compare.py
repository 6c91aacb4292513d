"""``conveyor runs compare``: runs side by side (params, metrics, data, code) and what changed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from conveyor.cli._common import _echo_json, _errors
from conveyor.operations.compare import (
    SECTIONS,
    collect_run,
    compare_contexts,
    compare_runs,
)

__all__ = ["SECTIONS", "collect_run", "compare", "compare_contexts", "compare_runs"]


def experiment_runs(store: Any, experiment: str) -> list[Any]:
    """The run contexts of an experiment, oldest first.

    Raises:
        NotFoundError: no such experiment (the message lists the known ones).
    """
    import difflib

    from conveyor.errors import NotFoundError
    from conveyor.metadata.store import CONTEXT_EXPERIMENT, CONTEXT_RUN

    ctx = store.find_context(CONTEXT_EXPERIMENT, experiment)
    if ctx is None:
        known = [c.name for c in store.list_contexts(CONTEXT_EXPERIMENT, limit=_LISTED + 1)]
        # a sweep's default name ends in a time stamp: a prefix is the usual near miss
        close = [k for k in known if k.startswith(experiment)][:1]
        close = close or difflib.get_close_matches(experiment, known, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        if not known:
            listed = "none yet (group runs with: conveyor run PIPELINE --experiment NAME)"
        else:
            more = ", ..." if len(known) > _LISTED else ""
            listed = ", ".join(known[:_LISTED]) + more
        raise NotFoundError(
            f"No experiment {experiment!r}.{hint} Known experiments, newest first: {listed}"
        )
    runs = store.list_contexts(CONTEXT_RUN, parent_id=ctx.id)  # newest first
    return sorted(runs, key=lambda c: c.id)


_LISTED = 20
"""How many known experiments an unknown-experiment error lists."""

_RUN_FACTS = (("run", "state", "state"), ("run", "duration_seconds", "time"))


def print_wide(console: Any, table: Any) -> None:
    """Print a table whole: on a terminal as wide as the terminal, elsewhere (a pipe, a file,
    CI) as wide as its content, so no column is cut to an ellipsis."""
    from rich.measure import Measurement

    if console.is_terminal:
        console.print(table)
        return
    unbounded = console.options.update_width(10_000)
    before = console.width
    console.width = max(before, Measurement.get(console, unbounded, table).maximum)
    try:
        console.print(table)
    finally:
        console.width = before


def run_table(data: dict[str, Any], *, leading: Sequence[str] = ()) -> Any:
    """A comparison turned sideways, one row per run (what a sweep prints at its end).

    Columns: the run id; the parameters that differ, ``leading`` first in their order; the
    run's state and duration; every metric. Data and code fingerprints are left out (they
    are in the ``--json`` output and in the side-by-side table).
    """
    from rich.table import Table

    rows = {(r["section"], r["name"]): r for r in data["rows"]}
    params = [n for n in leading if ("parameter", n) in rows]
    params += [
        name
        for (section, name), row in rows.items()
        if section == "parameter" and row["differs"] and name not in params
    ]
    columns = [("parameter", n, n) for n in params]
    columns += [fact for fact in _RUN_FACTS if fact[:2] in rows]
    columns += [("metric", n, n) for (section, n) in rows if section == "metric"]
    table = Table(header_style="bold", box=None, pad_edge=False)
    table.add_column("run", no_wrap=True)  # the id is what people copy: never cut it
    for section, _, title in columns:
        table.add_column(title, justify="right" if section == "metric" else "left")
    for i, run_id in enumerate(data["runs"]):
        cells = [
            _cell(section, name, rows[(section, name)]["values"][i]) for section, name, _ in columns
        ]
        table.add_row(run_id, *cells)
    return table


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
@click.argument("run_ids", nargs=-1, metavar="[RUN_ID]...")
@click.option(
    "--experiment",
    default=None,
    metavar="NAME",
    help="Compare every run of this experiment (a sweep), oldest first, one row per run.",
)
@click.option("--only-diff", is_flag=True, help="Show only the rows that differ between runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_errors
def compare(
    run_ids: tuple[str, ...], experiment: str | None, only_diff: bool, as_json: bool
) -> None:
    """Compare runs side by side: parameters, final metrics, data and code fingerprints.

    Rows that differ between the runs are highlighted. Metrics are the last step of each
    logged metric plus the values of the runs' Metrics artifacts; data fingerprints are the
    digests of each task's inputs, code fingerprints the digest of each task's code.
    With --experiment, every run of the experiment (and any RUN_ID given) is one row of a
    table of the parameters that differ, state, duration and metrics.
    """
    from conveyor.cli.inspect import _run_context, _store

    if experiment is None and len(run_ids) < 2:
        raise click.UsageError(
            "Give at least two run ids (see: conveyor runs list), or --experiment NAME."
        )
    store = _store(reconcile=True)
    leading: list[str] = []
    try:
        if experiment is None:
            data = compare_runs(store, run_ids)
        else:
            contexts = {c.id: c for c in experiment_runs(store, experiment)}
            for run_id in run_ids:
                ctx = _run_context(store, run_id)
                contexts.setdefault(ctx.id, ctx)
            ordered = [contexts[i] for i in sorted(contexts)]  # oldest first, newest last
            data = {"experiment": experiment, **compare_contexts(store, ordered)}
            leading = _swept_names(ordered)
    finally:
        store.close()
    if only_diff:
        data["rows"] = [row for row in data["rows"] if row["differs"]]
    if as_json:
        _echo_json(data)
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    if experiment is not None:
        print_wide(console, run_table(data, leading=leading))
        count = len(data["runs"])
        console.print(
            Text(f"{_runs(count)} of experiment {experiment} (--json: every row)", style="dim")
        )
        return

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
    if not data["rows"]:
        console.print("No differences." if only_diff else "Nothing recorded for these runs.")
        return
    print_wide(console, table)
    changed = sum(row["differs"] for row in data["rows"])
    console.print(f"[dim]{changed} of {len(data['rows'])} rows differ.[/]")


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def _swept_names(contexts: Sequence[Any]) -> list[str]:
    """The parameters a sweep varied, in its ``--sweep`` order (from its runs' properties)."""
    names: list[str] = []
    for ctx in contexts:
        values = (ctx.properties.get("sweep") or {}).get("values") or {}
        names += [n for n in values if n not in names]
    return names
