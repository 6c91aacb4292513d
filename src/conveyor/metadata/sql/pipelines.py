"""Pipelines at a glance from the SQL store: per pipeline, how many versions and runs it has,
its newest run and its newest version, in three queries whatever the number of runs (the
pipelines page of the UI with 10,000 runs)."""

from __future__ import annotations

from typing import Any

from conveyor.metadata.sql.store import SqlMetadataStore
from conveyor.metadata.store import CONTEXT_PIPELINE, CONTEXT_PIPELINE_VERSION, CONTEXT_RUN

__all__ = ["pipeline_summaries", "version_run_counts"]

_CHILDREN = (
    "SELECT pc.parent_id, c.type_id, COUNT(*), MAX(c.id) FROM parent_contexts pc "
    "JOIN contexts c ON c.id = pc.context_id "
    "WHERE c.type_id IN (?, ?) GROUP BY pc.parent_id, c.type_id"
)


def pipeline_summaries(store: SqlMetadataStore) -> list[dict[str, Any]]:
    """Each pipeline (by name): ``versions``, ``runs``, ``last_run`` (the run context's id,
    name and properties), ``latest_version`` (name, digest, created_at)."""
    records = store._records
    with store._read("summarize pipelines") as conn:
        pipeline_type = records.find_type(conn, "context", CONTEXT_PIPELINE)
        if pipeline_type is None:
            return []
        run_type = records.find_type(conn, "context", CONTEXT_RUN) or -1
        version_type = records.find_type(conn, "context", CONTEXT_PIPELINE_VERSION) or -1
        rows = conn.execute(
            "SELECT id, type_id, name, properties, created_at, updated_at FROM contexts "
            "WHERE type_id = ? ORDER BY name",
            (pipeline_type,),
        ).fetchall()
        pipelines = records.contexts(conn, rows)
        counts: dict[tuple[int, int], tuple[int, int]] = {}
        for parent, type_id, count, newest in conn.execute(
            _CHILDREN, (run_type, version_type)
        ).fetchall():
            counts[(int(parent), int(type_id))] = (int(count), int(newest))
        wanted = [
            counts[(p.id, t)][1]
            for p in pipelines
            for t in (run_type, version_type)
            if (p.id, t) in counts
        ]
        newest_rows: dict[int, Any] = {}
        if wanted:
            marks = ", ".join("?" * len(wanted))
            for row in conn.execute(
                f"SELECT id, type_id, name, properties, created_at, updated_at FROM contexts "
                f"WHERE id IN ({marks}) AND type_id = ?",
                (*wanted, run_type),
            ).fetchall():
                newest_rows[int(row[0])] = row
            version_names = dict(
                conn.execute(
                    f"SELECT id, name FROM contexts WHERE id IN ({marks}) AND type_id = ?",
                    (*wanted, version_type),
                ).fetchall()
            )
        else:
            version_names = {}
        last_runs = {r.id: r for r in records.contexts(conn, list(newest_rows.values()))}
    out = []
    for p in pipelines:
        runs, last_run = counts.get((p.id, run_type), (0, 0))
        versions, last_version = counts.get((p.id, version_type), (0, 0))
        run = last_runs.get(last_run)
        version_name = version_names.get(last_version)
        out.append(
            {
                "name": p.name,
                "context_id": p.id,
                "created_at": p.created_at.timestamp(),
                "runs": runs,
                "versions": versions,
                "last_run": None
                if run is None
                else {
                    "id": run.name,
                    "state": run.properties.get("state"),
                    "started_at": run.properties.get("started_at"),
                    "lifecycle": run.properties.get("lifecycle"),
                },
                "latest_version": None
                if version_name is None
                else {"name": version_name, "digest": str(version_name).partition("@")[2]},
            }
        )
    return out


def version_run_counts(store: SqlMetadataStore, version_ids: list[int]) -> dict[int, int]:
    """How many runs each pipeline version context has (one query)."""
    if not version_ids:
        return {}
    records = store._records
    with store._read("count the runs of pipeline versions") as conn:
        run_type = records.find_type(conn, "context", CONTEXT_RUN)
        if run_type is None:
            return {}
        marks = ", ".join("?" * len(version_ids))
        rows = conn.execute(
            "SELECT pc.parent_id, COUNT(*) FROM parent_contexts pc "
            "JOIN contexts c ON c.id = pc.context_id "
            f"WHERE c.type_id = ? AND pc.parent_id IN ({marks}) GROUP BY pc.parent_id",
            (run_type, *version_ids),
        ).fetchall()
    return {int(parent): int(count) for parent, count in rows}
