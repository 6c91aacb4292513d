"""Logged metrics (``conveyor.log_metric`` points): what a run logged, and series to plot.

``GET /api/v1/runs/{run_id}/metrics``: each metric name of a run with its point count, first and
last step, last value and the tasks that logged it.

``GET /api/v1/metrics/series``: the points of some metrics of some runs, downsampled on the
server to at most ``max_points`` per series: the lowest and highest point of each of
``max_points // 2`` equal ranges of x (``MetadataStore.metric_series``), so spikes survive.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Query

from conveyor.metadata.entities import ContextRecord
from conveyor.metadata.store import CONTEXT_RUN, MetadataStore
from conveyor.ui.context import UIContext, ui_context
from conveyor.ui.routes.compare import check_run_ids, problem

__all__ = ["MAX_NAMES", "router"]

router = APIRouter(tags=["metrics"])

MAX_NAMES = 50
"""Most metric names one series request takes."""

MAX_POINTS = 20_000
"""The largest ``max_points`` a series request may ask for."""

_NAME = re.compile(r"^[^\x00-\x1f]{1,200}$")


def _find_run(store: MetadataStore, run_id: str) -> ContextRecord | None:
    return store.find_context(CONTEXT_RUN, run_id)


def _not_found(run_id: str) -> Any:
    return problem(
        404, f"No run {run_id!r}.", "Pick a run id from the runs page (or: conveyor runs list)."
    )


@router.get("/runs/{run_id}/metrics")
def run_metrics(run_id: str, ctx: UIContext = Depends(ui_context)) -> Any:
    """The metrics a run logged: ``{"run_id", "metrics": [{"name", "count", "first_step",
    "last_step", "last_value", "min", "max", "tasks"}]}`` (``tasks``: the task instances that
    logged it, ``null`` for a tracked run's own values). Three queries whatever the size."""
    store = ctx.metadata
    run = _find_run(store, run_id)
    if run is None:
        return _not_found(run_id)
    summaries = store.metric_summaries(run.id)
    names = {e.id: e.name for e in store.list_executions(context_id=run.id)}
    metrics = []
    for entry in summaries:
        ids = entry.pop("execution_ids")
        entry["tasks"] = sorted({names.get(i, str(i)) for i in ids if i is not None})
        entry["logged_by_run"] = None in ids
        metrics.append(entry)
    return {"run_id": run_id, "metrics": metrics}


def _series(entry: dict[str, Any]) -> dict[str, Any]:
    points = entry["points"]
    start = entry["first_time"]
    return {
        "count": entry["count"],
        "min": entry["min"],
        "max": entry["max"],
        "first_time": start,
        "step": [p[0] for p in points],
        "value": [p[1] for p in points],
        "time": [round(p[2] - start, 6) for p in points],
    }


@router.get("/metrics/series")
def metric_series(
    runs: list[str] = Query(default=[], description="Run ids (1 to 20)."),
    name: list[str] = Query(default=[], description="Metric names (1 to 50)."),
    max_points: str = Query(default="1000", description="Most points returned per series."),
    x: str = Query(default="step", description="Order points by `step` or by `time` logged."),
    ctx: UIContext = Depends(ui_context),
) -> Any:
    """Per run, per metric name: ``{"count" (raw points), "min", "max", "first_time" (epoch
    seconds of the first point), "step": [...], "value": [...], "time": [...] (seconds since
    the first point)}``: every point up to ``max_points``, else the lowest and highest point of
    each of ``max_points // 2`` equal x ranges. A run that did not log a name has no entry for
    it. A bounded number of queries per run."""
    ids, error = check_run_ids(runs)
    if error is not None:
        return error
    names = list(dict.fromkeys(n for n in name if n))
    if not names:
        return problem(400, "No metric name given.", "Add ?name=METRIC (see /runs/RUN/metrics).")
    if len(names) > MAX_NAMES:
        return problem(
            400,
            f"{len(names)} metric names asked for; at most {MAX_NAMES} at once.",
            "Ask for fewer names per request.",
        )
    bad = [n for n in names if not _NAME.match(n)]
    if bad:
        return problem(
            400,
            f"Bad metric name {bad[0]!r}.",
            "Names are 1 to 200 characters without control characters.",
        )
    limit = int(max_points) if max_points.strip().isdigit() else 0
    if not 2 <= limit <= MAX_POINTS:
        return problem(
            400,
            f"max_points={max_points!r} is not a whole number from 2 to {MAX_POINTS}.",
            f"Give max_points between 2 and {MAX_POINTS} (default 1000).",
        )
    if x not in ("step", "time"):
        return problem(400, f"x={x!r} is not an axis.", "Give x=step or x=time.")
    store = ctx.metadata
    contexts = []
    for run_id in ids:
        run = _find_run(store, run_id)
        if run is None:
            return _not_found(run_id)
        contexts.append(run)
    out = []
    for run in contexts:
        found = store.metric_series(run.id, names, max_points=limit, by_time=x == "time")
        out.append(
            {"run_id": run.name, "series": {n: _series(found[n]) for n in names if n in found}}
        )
    return {"x": x, "max_points": limit, "names": names, "runs": out}
