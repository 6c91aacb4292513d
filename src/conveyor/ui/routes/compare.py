"""``GET /api/v1/compare``: runs side by side, one row per fact, one value per run.

The rows come from :mod:`conveyor.operations.compare` (what ``conveyor runs compare`` prints),
with the runs' IR digests and output digests added.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from conveyor.metadata.store import CONTEXT_RUN, LIFECYCLE
from conveyor.operations.compare import compare_contexts
from conveyor.ui.context import UIContext, ui_context

__all__ = ["MAX_RUNS", "problem", "router"]

router = APIRouter(tags=["compare"])

MAX_RUNS = 20
"""Most runs one comparison (or one chart request) takes."""


def problem(status: int, error: str, fix: str) -> JSONResponse:
    """A 4xx answer: what is wrong and how to put it right."""
    return JSONResponse({"error": error, "fix": fix}, status_code=status)


def check_run_ids(runs: list[str]) -> tuple[list[str], JSONResponse | None]:
    """The run ids of a request, duplicates dropped (first kept), or the 400 to answer."""
    ids = list(dict.fromkeys(r.strip() for r in runs if r.strip()))
    if not ids:
        return ids, problem(400, "No run given.", "Name runs to compare: ?runs=RUN_A&runs=RUN_B")
    if len(ids) > MAX_RUNS:
        return ids, problem(
            400,
            f"{len(ids)} runs asked for; at most {MAX_RUNS} are compared at once.",
            f"Remove {len(ids) - MAX_RUNS} of the runs from the request.",
        )
    return ids, None


@router.get("/compare")
def compare(
    runs: list[str] = Query(default=[], description="Run ids, in column order (1 to 20)."),
    only_differences: bool = Query(default=False, description="Only the rows that differ."),
    ctx: UIContext = Depends(ui_context),
) -> Any:
    """Runs side by side: ``rows`` of ``{section, name, values (one per run), differs}``,
    sections ``run`` (state, experiment, pipeline, duration, IR digest), ``parameter``,
    ``metric`` (last value of each logged metric, values of Metrics artifacts), ``data``
    (digests of each task's inputs, and of its outputs: names ending in `` (output)``) and
    ``code`` (each task's code fingerprint); ``columns`` describe the runs."""
    ids, error = check_run_ids(runs)
    if error is not None:
        return error
    store = ctx.metadata
    contexts = []
    for run_id in ids:
        found = store.find_context(CONTEXT_RUN, run_id)
        if found is None:
            return problem(
                404,
                f"No run {run_id!r}.",
                "Pick run ids from the runs page (or: conveyor runs list).",
            )
        contexts.append(found)
    data = compare_contexts(store, contexts, detail=True)
    total = len(data["rows"])
    differing = sum(1 for row in data["rows"] if row["differs"])
    if only_differences:
        data["rows"] = [row for row in data["rows"] if row["differs"]]
    columns = [
        {
            "run_id": c.name,
            "pipeline": c.properties.get("pipeline"),
            "state": c.properties.get("state"),
            "started_at": c.properties.get("started_at"),
            "lifecycle": c.properties.get(LIFECYCLE),
        }
        for c in contexts
    ]
    return {
        **data,
        "columns": columns,
        "only_differences": only_differences,
        "total_rows": total,
        "differing_rows": differing,
    }
