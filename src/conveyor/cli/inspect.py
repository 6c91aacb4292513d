"""Inspection commands: ``runs list|show``, ``artifacts show``, ``lineage``."""

from __future__ import annotations

import json
from typing import Any

import click

from conveyor.cli._common import _echo_json, _errors, _settings
from conveyor.errors import NotFoundError


def _store(reconcile: bool = False) -> Any:
    from conveyor.metadata import connect

    settings = _settings()
    store = connect(settings.metadata_url)
    if reconcile:  # a run whose orchestrator died (kill -9) is shown as failed, not running
        import os

        from conveyor.orchestrator import reconcile_stale_runs
        from conveyor.storage import open_store

        def open_storage() -> Any:
            return open_store(settings.artifact_root, scratch=os.path.join(settings.home, "tmp"))

        reconcile_stale_runs(store, open_storage=open_storage)
    return store


def _run_context(store: Any, run_id: str) -> Any:
    from conveyor.metadata.store import CONTEXT_RUN

    ctx = store.find_context(CONTEXT_RUN, run_id)
    if ctx is None:
        raise NotFoundError(f"No run {run_id!r}. List runs with: conveyor runs list")
    return ctx


def _artifact_dict(a: Any) -> dict[str, Any]:
    return {
        "id": a.id,
        "type": a.type_name,
        "uri": a.uri,
        "name": a.name,
        "state": a.state.value,
        "fingerprint": a.fingerprint,
        "size_bytes": a.size_bytes,
        "properties": dict(a.properties),
        "created_at": a.created_at,
    }


def _execution_dict(e: Any) -> dict[str, Any]:
    return {
        "id": e.id,
        "task": e.name,
        "component": e.type_name,
        "state": e.state.value,
        "cache_key": e.cache_key,
        "properties": dict(e.properties),
        "created_at": e.created_at,
    }


@click.group()
def runs() -> None:
    """List and show pipeline runs."""


@runs.command(name="list")
@click.option("--limit", "-n", default=20, show_default=True, help="How many runs.")
@click.option("--pipeline", default=None, help="Only runs of this pipeline.")
@click.option("--experiment", default=None, help="Only runs of this experiment (e.g. a sweep).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_errors
def runs_list(limit: int, pipeline: str | None, experiment: str | None, as_json: bool) -> None:
    """The newest runs first."""
    from conveyor.cli.compare import experiment_runs
    from conveyor.metadata.store import CONTEXT_PIPELINE, CONTEXT_RUN

    store = _store(reconcile=True)
    parent_id = None
    if pipeline:
        pctx = store.find_context(CONTEXT_PIPELINE, pipeline)
        if pctx is None:
            raise NotFoundError(f"No pipeline {pipeline!r} has run yet")
        parent_id = pctx.id
    if experiment is not None:
        found = [
            c
            for c in reversed(experiment_runs(store, experiment))
            if pipeline is None or c.properties.get("pipeline") == pipeline
        ][:limit]
    else:
        found = store.list_contexts(CONTEXT_RUN, limit=limit, parent_id=parent_id)
    from conveyor.orchestrator.local import recorded_task_states

    rows = [
        {
            "run_id": c.name,
            "pipeline": c.properties.get("pipeline"),
            "state": c.properties.get("state"),
            "started_at": c.properties.get("started_at"),
            "duration_seconds": c.properties.get("duration_seconds"),
            # a run in progress (or one that ended without counting) is counted from the
            # store, as `runs show` lists it
            "task_states": c.properties.get("task_states")
            or recorded_task_states(store, c.id)["task_states"],
            "experiment": c.properties.get("experiment"),
        }
        for c in found
    ]
    if as_json:
        _echo_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    from conveyor.cli.render import format_time, state_text

    table = Table(header_style="bold", box=None, pad_edge=False)
    table.add_column("run", no_wrap=True)  # the id is what people copy: never cut it
    grouped = any(r["experiment"] for r in rows)
    for col in ("pipeline", *(("experiment",) if grouped else ()), "state", "started", "time"):
        table.add_column(col)
    table.add_column("steps")
    for r in rows:
        steps = ", ".join(f"{n} {s.lower()}" for s, n in sorted(r["task_states"].items()))
        dur = r["duration_seconds"]
        table.add_row(
            r["run_id"],
            str(r["pipeline"]),
            *((str(r["experiment"] or ""),) if grouped else ()),
            state_text(str(r["state"])),
            format_time(r["started_at"]),
            f"{dur:.2f}s" if dur else "",
            steps,
        )
    Console().print(table if rows else "No runs yet. Start one with: conveyor run PIPELINE.py")


@runs.command(name="show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_errors
def runs_show(run_id: str, as_json: bool) -> None:
    """One run: its parameters and every step with its state, outputs and errors."""
    from conveyor.metadata.entities import EventType

    store = _store(reconcile=True)
    ctx = _run_context(store, run_id)
    executions = sorted(store.list_executions(context_id=ctx.id), key=lambda e: e.id)
    events = store.get_events(execution_ids=[e.id for e in executions])
    arts = {a.id: a for a in store.get_artifacts({ev.artifact_id for ev in events})}
    steps = []
    for e in executions:
        outs = {
            ev.path: _artifact_dict(arts[ev.artifact_id])
            for ev in events
            if ev.execution_id == e.id and ev.type == EventType.OUTPUT and ev.artifact_id in arts
        }
        ins = {
            ev.path: ev.artifact_id
            for ev in events
            if ev.execution_id == e.id and ev.type == EventType.INPUT
        }
        d = _execution_dict(e)
        d["outputs"] = outs
        d["inputs"] = ins
        steps.append(d)
    data = {"run_id": ctx.name, "properties": dict(ctx.properties), "steps": steps}
    if as_json:
        _echo_json(data)
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from conveyor.cli.render import format_time, state_text

    console = Console(highlight=False)
    p = ctx.properties
    console.print(
        f"[bold]Run[/] [cyan]{ctx.name}[/]  pipeline [bold]{p.get('pipeline')}[/]  ",
        state_text(str(p.get("state"))),
    )
    console.print(
        f"started {format_time(p.get('started_at'))}  "
        f"parameters {json.dumps(p.get('parameters', {}), sort_keys=True)}"
    )
    for name, loop in sorted((p.get("loops") or {}).items()):
        console.print(
            f"loop {escape(name)}: {loop.get('iterations')} iteration(s), "
            f"{escape(str(loop.get('reason', '')))}"
        )
    table = Table(header_style="bold", box=None, pad_edge=False)
    for col in ("exec", "step", "state", "time", "outputs / error"):
        table.add_column(col, overflow="fold")
    for s in steps:
        props = s["properties"]
        dur = props.get("duration_seconds")
        if s["state"] in ("FAILED", "CANCELED"):
            err = props.get("error", {}).get("message") or props.get("reason", "")
            detail = f"[red]{escape(str(err))}[/]"
        elif s["state"] == "SKIPPED":
            detail = f"[dim]{escape(str(props.get('reason', '')))}[/]"
        else:
            detail = "\n".join(
                f"{k} → #{a['id']} {escape(a['uri'])}" for k, a in sorted(s["outputs"].items())
            )
            outs = props.get("outputs") or {}
            if outs:
                detail = "\n".join([*(f"{k} = {v!r}" for k, v in sorted(outs.items())), detail])
            if s["state"] == "CACHED":
                detail += f"\n[dim]from execution {props.get('cache', {}).get('cached_from')}[/]"
        table.add_row(
            str(s["id"]),
            s["task"],
            state_text(s["state"]),
            f"{dur:.2f}s" if isinstance(dur, int | float) else "",
            detail.strip(),
        )
    console.print(table)
    if p.get("error"):
        console.print(f"[red]{escape(str(p['error']))}[/]")


@click.group()
def artifacts() -> None:
    """Show artifacts."""


@artifacts.command(name="show")
@click.argument("artifact_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_errors
def artifacts_show(artifact_id: int, as_json: bool) -> None:
    """One artifact: where its bytes are, its digest, who made it and who used it."""
    store = _store()
    art = store.get_artifact(artifact_id)
    events = store.get_events(artifact_ids=[artifact_id])
    execs = {e.id: e for e in (store.get_execution(i) for i in {ev.execution_id for ev in events})}
    made_by = [
        {
            "execution": ev.execution_id,
            "task": execs[ev.execution_id].name,
            "output": ev.path,
            "state": execs[ev.execution_id].state.value,
        }
        for ev in events
        if ev.type.is_output
    ]
    used_by = [
        {"execution": ev.execution_id, "task": execs[ev.execution_id].name, "input": ev.path}
        for ev in events
        if ev.type.is_input
    ]
    data = {**_artifact_dict(art), "produced_by": made_by, "consumed_by": used_by}
    if as_json:
        _echo_json(data)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key in ("id", "type", "uri", "state", "fingerprint", "size_bytes", "created_at"):
        table.add_row(key, str(data[key]))
    table.add_row("properties", json.dumps(data["properties"], sort_keys=True))
    table.add_row(
        "produced by",
        "\n".join(
            f"#{m['execution']} {m['task']} ({m['output']}, {m['state'].lower()})" for m in made_by
        ),
    )
    table.add_row(
        "consumed by", "\n".join(f"#{u['execution']} {u['task']} ({u['input']})" for u in used_by)
    )
    Console(highlight=False).print(table)


@click.command()
@click.argument("artifact_id", type=int)
@click.option("--downstream", is_flag=True, help="Follow consumers instead of producers.")
@click.option(
    "--depth", type=click.IntRange(min=0), default=None, help="Stop after this many executions."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_errors
def lineage(artifact_id: int, downstream: bool, depth: int | None, as_json: bool) -> None:
    """Everything upstream (or downstream) of ARTIFACT_ID: executions and artifacts."""
    store = _store()
    direction = "downstream" if downstream else "upstream"
    graph = store.lineage(artifact_id, direction, max_depth=depth)
    data = {
        "artifact": artifact_id,
        "direction": direction,
        "artifacts": [_artifact_dict(a) for a in graph.artifacts],
        "executions": [_execution_dict(e) for e in graph.executions],
        "events": [
            {
                "artifact": ev.artifact_id,
                "execution": ev.execution_id,
                "type": ev.type.value,
                "path": ev.path,
            }
            for ev in graph.events
        ],
    }
    if as_json:
        _echo_json(data)
        return
    from rich.console import Console
    from rich.tree import Tree

    arts = {a.id: a for a in graph.artifacts}
    execs = {e.id: e for e in graph.executions}
    # the four adjacency maps of the bipartite lineage graph
    made: dict[int, list[Any]] = {}  # artifact -> events of the executions that output it
    used: dict[int, list[Any]] = {}  # execution -> its input events
    outs_of: dict[int, list[Any]] = {}  # execution -> its output events
    ins_of: dict[int, list[Any]] = {}  # artifact -> events of the executions that read it
    for ev in graph.events:
        if ev.type.is_output:
            outs_of.setdefault(ev.execution_id, []).append(ev)
            if execs.get(ev.execution_id) and execs[ev.execution_id].state.value == "CACHED":
                continue  # a cache hit re-publishes the artifact; its producer is the original
            made.setdefault(ev.artifact_id, []).append(ev)
        else:
            used.setdefault(ev.execution_id, []).append(ev)
            ins_of.setdefault(ev.artifact_id, []).append(ev)

    def art_label(aid: int) -> str:
        a = arts.get(aid)
        return f"[cyan]artifact #{aid}[/] {a.type_name.split('@')[0]} {a.uri}" if a else f"#{aid}"

    def exec_label(eid: int) -> str:
        e = execs[eid]
        return f"[bold]execution #{eid}[/] {e.name} ({e.state.value.lower()})"

    root = Tree(art_label(artifact_id))
    seen: set[tuple[str, int]] = set()

    def grow_up(node: Tree, aid: int) -> None:
        for ev in made.get(aid, []):
            if ("e", ev.execution_id) in seen or ev.execution_id not in execs:
                continue
            seen.add(("e", ev.execution_id))
            child = node.add(exec_label(ev.execution_id))
            for inp in used.get(ev.execution_id, []):
                grow_up(child.add(f"{inp.path}: {art_label(inp.artifact_id)}"), inp.artifact_id)

    def grow_down(node: Tree, aid: int) -> None:
        for ev in ins_of.get(aid, []):
            if ("e", ev.execution_id) in seen or ev.execution_id not in execs:
                continue
            seen.add(("e", ev.execution_id))
            child = node.add(exec_label(ev.execution_id))
            for out in outs_of.get(ev.execution_id, []):
                grow_down(child.add(f"{out.path}: {art_label(out.artifact_id)}"), out.artifact_id)

    (grow_down if downstream else grow_up)(root, artifact_id)
    Console(highlight=False).print(root)
