"""Lineage queries: one recursive CTE walks the event graph, then a fixed number of fetches."""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa

from conveyor.errors import NotFoundError
from conveyor.metadata.entities import EventType, LineageGraph
from conveyor.metadata.sql._records import (
    ARTIFACT_COLUMNS,
    EVENT_COLUMNS,
    EXECUTION_COLUMNS,
    Records,
    chunks,
)
from conveyor.metadata.sql.models import artifacts, events, executions

__all__ = ["INPUT_EVENTS", "OUTPUT_EVENTS", "lineage_graph", "walk_statement"]

INPUT_EVENTS = tuple(t.value for t in EventType if t.is_input)
OUTPUT_EVENTS = tuple(t.value for t in EventType if t.is_output)


def walk_statement(
    artifact_id: int,
    direction: Literal["upstream", "downstream"],
    max_depth: int | None,
    *,
    lateral: bool = False,
) -> sa.Select[Any]:
    """The events of every execution reached from an artifact, in one recursive query.

    Upstream, an artifact leads to the executions that output it and an execution to the
    artifacts it inputs; downstream the other way round. ``walk`` collects execution ids
    (with their depth when ``max_depth`` bounds it); the outer query returns their events.

    Args:
        artifact_id: where the walk starts.
        direction: ``"upstream"`` or ``"downstream"``.
        max_depth: the most executions along a path, or None.
        lateral: write each hop as a ``LATERAL`` subquery (PostgreSQL). This pins the plan to
            index lookups per row of the walk, whatever the table statistics say; without it
            a freshly filled table can get a hash join that scans ``events`` once per hop.
    """
    if direction == "upstream":
        enter, leave = OUTPUT_EVENTS, INPUT_EVENTS
    else:
        enter, leave = INPUT_EVENTS, OUTPUT_EVENTS
    bounded = max_depth is not None

    start_cols: list[sa.ColumnElement[Any]] = [events.c.execution_id]
    if bounded:
        start_cols.append(sa.literal(1, sa.Integer()).label("depth"))
    start = sa.select(*start_cols).where(
        events.c.artifact_id == artifact_id, events.c.type.in_(enter)
    )
    walk = start.cte("walk", recursive=True)

    hop_out = events.alias("hop_out")  # execution -> the artifacts it leads to
    hop_in = events.alias("hop_in")  # artifact -> the next executions
    out_on = sa.and_(hop_out.c.execution_id == walk.c.execution_id, hop_out.c.type.in_(leave))
    if lateral:
        # OFFSET 0 keeps PostgreSQL from flattening the subqueries back into a plain join.
        out = sa.select(hop_out.c.artifact_id).where(out_on).offset(0).lateral("hop_out")
        in_on = sa.and_(hop_in.c.artifact_id == out.c.artifact_id, hop_in.c.type.in_(enter))
        nxt = sa.select(hop_in.c.execution_id).where(in_on).offset(0).lateral("hop_in")
        step_from = walk.join(out, sa.true()).join(nxt, sa.true())
        next_id = nxt.c.execution_id
    else:
        in_on = sa.and_(hop_in.c.artifact_id == hop_out.c.artifact_id, hop_in.c.type.in_(enter))
        step_from = walk.join(hop_out, out_on).join(hop_in, in_on)
        next_id = hop_in.c.execution_id
    step_cols: list[sa.ColumnElement[Any]] = [next_id]
    if bounded:
        step_cols.append(walk.c.depth + 1)
    step = sa.select(*step_cols).select_from(step_from)
    if bounded:
        step = step.where(walk.c.depth < max_depth)
    # UNION (not UNION ALL) drops repeats, so the walk ends even on diamonds.
    walk = walk.union(step)

    if lateral:
        reached = sa.select(walk.c.execution_id).distinct().subquery("reached")
        fetched = (
            sa.select(*EVENT_COLUMNS, events.c.id.label("event_id"))
            .where(events.c.execution_id == reached.c.execution_id)
            .offset(0)
            .lateral("fetched")
        )
        return (
            sa.select(*(fetched.c[c.name] for c in EVENT_COLUMNS))
            .select_from(reached.join(fetched, sa.true()))
            .order_by(fetched.c.event_id)
        )
    return (
        sa.select(*EVENT_COLUMNS)
        .where(events.c.execution_id.in_(sa.select(walk.c.execution_id)))
        .order_by(events.c.id)
    )


def lineage_graph(
    conn: sa.Connection,
    records: Records,
    artifact_id: int,
    direction: Literal["upstream", "downstream"],
    max_depth: int | None,
) -> LineageGraph:
    """Collect the lineage of an artifact in three queries (more only past 5,000 nodes).

    Raises:
        NotFoundError: no artifact has this id.
    """
    leave = INPUT_EVENTS if direction == "upstream" else OUTPUT_EVENTS
    lateral = conn.dialect.name == "postgresql"
    rows = (
        []
        if max_depth == 0
        else conn.execute(walk_statement(artifact_id, direction, max_depth, lateral=lateral)).all()
    )

    execution_ids = sorted({r[1] for r in rows})
    artifact_ids = {artifact_id}
    artifact_ids.update(r[0] for r in rows if r[2] in leave)
    # Keep the edges between nodes of the graph: every "leave" edge, and the "enter" edges of
    # artifacts in the graph (not, say, the sibling outputs of an upstream execution).
    kept = [r for r in rows if r[0] in artifact_ids]

    artifact_rows: list[Any] = []
    for part in chunks(sorted(artifact_ids)):
        artifact_rows += conn.execute(
            sa.select(*ARTIFACT_COLUMNS).where(artifacts.c.id.in_(part)).order_by(artifacts.c.id)
        ).all()
    if all(r[0] != artifact_id for r in artifact_rows):
        raise NotFoundError(f"No artifact with id {artifact_id!r} in the metadata store.")
    execution_rows: list[Any] = []
    for part in chunks(execution_ids):
        execution_rows += conn.execute(
            sa.select(*EXECUTION_COLUMNS).where(executions.c.id.in_(part)).order_by(executions.c.id)
        ).all()
    return LineageGraph(
        artifacts=tuple(records.artifacts(conn, artifact_rows)),
        executions=tuple(records.executions(conn, execution_rows)),
        events=tuple(records.events(kept)),
    )
