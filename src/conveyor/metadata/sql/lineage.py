"""Lineage queries: one recursive CTE walks the event graph, then a fixed number of fetches."""

from __future__ import annotations

from typing import Any, Literal

from conveyor.errors import NotFoundError
from conveyor.metadata.entities import EventType, LineageGraph
from conveyor.metadata.sql._db import Conn
from conveyor.metadata.sql._records import (
    ARTIFACT_COLUMNS,
    EVENT_COLUMNS,
    EXECUTION_COLUMNS,
    Records,
    chunks,
    columns,
    marks,
)

__all__ = ["INPUT_EVENTS", "OUTPUT_EVENTS", "lineage_graph", "walk_statement"]

INPUT_EVENTS = tuple(t.value for t in EventType if t.is_input)
OUTPUT_EVENTS = tuple(t.value for t in EventType if t.is_output)


def _types(values: tuple[str, ...]) -> str:
    # event type names are the enum's constants (letters and underscores): inlined
    assert all(v.replace("_", "").isalpha() for v in values)
    return ", ".join(f"'{v}'" for v in values)


def walk_statement(
    artifact_id: int,
    direction: Literal["upstream", "downstream"],
    max_depth: int | None,
    *,
    lateral: bool = False,
) -> tuple[str, list[int]]:
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

    Returns:
        The SQL (``?`` placeholders) and its parameters.
    """
    if direction == "upstream":
        enter, leave = _types(OUTPUT_EVENTS), _types(INPUT_EVENTS)
    else:
        enter, leave = _types(INPUT_EVENTS), _types(OUTPUT_EVENTS)
    bounded = max_depth is not None
    params: list[int] = [artifact_id]
    start = (
        f"SELECT events.execution_id{', 1' if bounded else ''} FROM events "
        f"WHERE events.artifact_id = ? AND events.type IN ({enter})"
    )
    if lateral:
        # OFFSET 0 keeps PostgreSQL from flattening the subqueries back into a plain join.
        hops = (
            "FROM walk JOIN LATERAL (SELECT hop_out.artifact_id FROM events AS hop_out "
            "WHERE hop_out.execution_id = walk.execution_id "
            f"AND hop_out.type IN ({leave}) OFFSET 0) AS hop_out ON true "
            "JOIN LATERAL (SELECT hop_in.execution_id FROM events AS hop_in "
            "WHERE hop_in.artifact_id = hop_out.artifact_id "
            f"AND hop_in.type IN ({enter}) OFFSET 0) AS hop_in ON true"
        )
    else:
        hops = (
            "FROM walk JOIN events AS hop_out ON hop_out.execution_id = walk.execution_id "
            f"AND hop_out.type IN ({leave}) "
            "JOIN events AS hop_in ON hop_in.artifact_id = hop_out.artifact_id "
            f"AND hop_in.type IN ({enter})"
        )
    step = f"SELECT hop_in.execution_id{', walk.depth + 1' if bounded else ''} {hops}"
    if bounded:
        step += " WHERE walk.depth < ?"
        params.append(int(max_depth))  # type: ignore[arg-type]
    # UNION (not UNION ALL) drops repeats, so the walk ends even on diamonds.
    walk = (
        f"WITH RECURSIVE walk(execution_id{', depth' if bounded else ''}) AS "
        f"({start} UNION {step}) "
    )
    if lateral:
        return (
            f"{walk}SELECT {columns(EVENT_COLUMNS, 'fetched')} "
            "FROM (SELECT DISTINCT walk.execution_id FROM walk) AS reached "
            f"JOIN LATERAL (SELECT {columns(EVENT_COLUMNS, 'events')}, events.id AS event_id "
            "FROM events WHERE events.execution_id = reached.execution_id OFFSET 0) AS fetched "
            "ON true ORDER BY fetched.event_id",
            params,
        )
    return (
        f"{walk}SELECT {columns(EVENT_COLUMNS, 'events')} FROM events "
        "WHERE events.execution_id IN (SELECT walk.execution_id FROM walk) ORDER BY events.id",
        params,
    )


def lineage_graph(
    conn: Conn,
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
    rows: list[Any] = []
    if max_depth != 0:
        sql, params = walk_statement(artifact_id, direction, max_depth, lateral=not conn.sqlite)
        rows = conn.execute(sql, params).fetchall()

    execution_ids = sorted({r[1] for r in rows})
    artifact_ids = {artifact_id}
    artifact_ids.update(r[0] for r in rows if r[2] in leave)
    # Keep the edges between nodes of the graph: every "leave" edge, and the "enter" edges of
    # artifacts in the graph (not, say, the sibling outputs of an upstream execution).
    kept = [r for r in rows if r[0] in artifact_ids]

    artifact_rows: list[Any] = []
    select = f"SELECT {', '.join(ARTIFACT_COLUMNS)} FROM artifacts"
    for part in chunks(sorted(artifact_ids)):
        query = f"{select} WHERE id IN ({marks(len(part))}) ORDER BY id"
        artifact_rows += conn.execute(query, part).fetchall()
    if all(r[0] != artifact_id for r in artifact_rows):
        raise NotFoundError(f"No artifact with id {artifact_id!r} in the metadata store.")
    execution_rows: list[Any] = []
    select = f"SELECT {', '.join(EXECUTION_COLUMNS)} FROM executions"
    for part in chunks(execution_ids):
        query = f"{select} WHERE id IN ({marks(len(part))}) ORDER BY id"
        execution_rows += conn.execute(query, part).fetchall()
    return LineageGraph(
        artifacts=tuple(records.artifacts(conn, artifact_rows)),
        executions=tuple(records.executions(conn, execution_rows)),
        events=tuple(records.events(kept)),
    )
