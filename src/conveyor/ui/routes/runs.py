"""API routes of the runs list and the experiments page: ``GET /api/v1/runs`` (filtered, sorted,
paged in the metadata store's SQL) and ``GET /api/v1/experiments`` (run counts in one query)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from conveyor.metadata import CONTEXT_EXPERIMENT, LIFECYCLE, ContextRecord
from conveyor.metadata.runs import (
    DEFAULT_LIMIT,
    LIFECYCLES,
    MAX_LIMIT,
    METRICS,
    OPERATORS,
    SORT_KEYS,
    RunQuery,
    parse_predicate,
    parse_sort,
)
from conveyor.ui.context import UIContext, ui_context

__all__ = [
    "ApiError",
    "ExperimentList",
    "ExperimentRow",
    "RunColumns",
    "RunList",
    "RunRow",
    "parse_time",
    "router",
    "run_row",
]

router = APIRouter(tags=["runs"])

RUN_STATES = ("RUNNING", "COMPLETE", "FAILED", "CANCELED")


class ApiError(BaseModel):
    """A request the server cannot answer: what is wrong and how to fix it."""

    error: str
    fix: str


class RunRow(BaseModel):
    """One run of the list (the run detail has everything else)."""

    run_id: str
    pipeline: str | None = None
    experiment: str | None = None
    state: str | None = None
    lifecycle: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    duration_seconds: float | None = None
    task_states: dict[str, int] = Field(default_factory=dict)
    tasks: int | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    ir_digest: str | None = None


class RunColumns(BaseModel):
    """The parameter and metric names of the page's runs (columns the table can show)."""

    parameters: list[str]
    metrics: list[str]


class RunList(BaseModel):
    """A page of runs, how many match, and the page's column names."""

    runs: list[RunRow]
    total: int
    limit: int
    offset: int
    sort: str
    columns: RunColumns


class ExperimentRow(BaseModel):
    """An experiment: its runs by state, its newest run's start, the pipelines it holds."""

    name: str
    runs: int
    states: dict[str, int]
    last_started_at: float | None = None
    pipelines: list[str]
    created_at: float | None = None


class ExperimentList(BaseModel):
    """Every experiment, newest activity first, and the runs that have no experiment."""

    experiments: list[ExperimentRow]
    runs_without_experiment: int
    lifecycle: str


def _error(error: str, fix: str) -> JSONResponse:
    return JSONResponse({"error": error, "fix": fix}, status_code=400)


def parse_time(value: str, name: str) -> float:
    """Epoch seconds from ``1765000000``, ``1765000000.5`` or ISO 8601 (``2026-12-07``,
    ``2026-12-07T10:00:00+01:00``; no zone means UTC).

    Raises:
        ValueError: neither form.
    """
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return number
        raise ValueError(f"{name}={value!r} is not a finite time.")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{name}={value!r} is neither epoch seconds nor an ISO 8601 time."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def run_row(ctx: ContextRecord) -> RunRow:
    """The list row of a run context."""
    props: Mapping[str, Any] = ctx.properties
    metrics = props.get(METRICS)
    states = props.get("task_states")
    tasks = _number(props.get("tasks"))

    def text(key: str) -> str | None:
        value = props.get(key)
        return None if value is None else str(value)

    return RunRow(
        run_id=ctx.name,
        pipeline=text("pipeline") or text("name"),
        experiment=text("experiment"),
        state=text("state"),
        lifecycle=text(LIFECYCLE),
        started_at=_number(props.get("started_at")),
        finished_at=_number(props.get("finished_at")),
        duration_seconds=_number(props.get("duration_seconds")),
        task_states={
            str(k): int(v) for k, v in dict(states or {}).items() if _number(v) is not None
        },
        tasks=None if tasks is None else int(tasks),
        parameters=dict(props.get("parameters") or {}),
        metrics={
            str(k): float(v) for k, v in dict(metrics or {}).items() if _number(v) is not None
        },
        ir_digest=text("ir_digest"),
    )


_FIX_PREDICATE = (
    f"Write NAME OP VALUE with OP one of {' '.join(OPERATORS)}, e.g. param=lr>=0.01 or "
    "metric=auc>0.9; names use letters, digits and _ . : / @ + -."
)


def _query(
    *,
    pipeline: str | None,
    experiment: str | None,
    state: list[str],
    since: str | None,
    until: str | None,
    lifecycle: str,
    param: list[str],
    metric: list[str],
    q: str | None,
    sort: str,
    limit: int,
    offset: int,
) -> RunQuery | JSONResponse:
    """The store query of the request, or the 400 answer saying what is wrong."""
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        return _error(
            f"limit={limit} offset={offset} is not a page.",
            f"Give a limit from 1 to {MAX_LIMIT} and an offset of 0 or more.",
        )
    states = tuple(dict.fromkeys(s.strip().upper() for s in state if s.strip()))
    unknown = [s for s in states if s not in RUN_STATES]
    if unknown:
        return _error(f"Unknown run state {unknown[0]!r}.", f"Use {', '.join(RUN_STATES)}.")
    if lifecycle not in LIFECYCLES:
        return _error(f"Unknown lifecycle {lifecycle!r}.", f"Use one of {', '.join(LIFECYCLES)}.")
    times: dict[str, float | None] = {"since": None, "until": None}
    for name, value in (("since", since), ("until", until)):
        if value:
            try:
                times[name] = parse_time(value, name)
            except ValueError as exc:
                return _error(str(exc), "Give epoch seconds or ISO 8601 (2026-12-07T10:00Z).")
    predicates = {}
    for name, texts in (("param", param), ("metric", metric)):
        try:
            predicates[name] = tuple(parse_predicate(t) for t in texts if t.strip())
        except ValueError as exc:
            return _error(f"Bad {name} filter: {exc}", _FIX_PREDICATE)
    try:
        order = parse_sort(sort)
    except ValueError as exc:
        return _error(
            str(exc),
            f"Sort by {', '.join(SORT_KEYS)}, param:NAME or metric:NAME; prefix - for "
            "descending (-started_at is the default).",
        )
    return RunQuery(
        pipeline=pipeline or None,
        experiment=experiment or None,
        states=states,
        started_after=times["since"],
        started_before=times["until"],
        lifecycle=lifecycle,  # checked above
        parameters=predicates["param"],
        metrics=predicates["metric"],
        text=(q or "").strip() or None,
        sort=order,
        limit=limit,
        offset=offset,
    )


@router.get("/runs", response_model=RunList, responses={400: {"model": ApiError}})
def list_runs(
    pipeline: str | None = Query(None, description="Only runs of this pipeline."),
    experiment: str | None = Query(None, description="Only runs of this experiment."),
    state: list[str] = Query([], description="Any of these states (repeatable)."),
    since: str | None = Query(None, description="Started at or after (epoch s or ISO 8601)."),
    until: str | None = Query(None, description="Started before (epoch s or ISO 8601)."),
    lifecycle: str = Query("active", description="active, archived, deleted or all."),
    param: list[str] = Query([], description="Parameter predicates, e.g. lr>=0.01."),
    metric: list[str] = Query([], description="Final metric predicates, e.g. auc>0.9."),
    q: str | None = Query(None, description="Part of the run id (any case)."),
    sort: str = Query("-started_at", description="Sort key; - for descending."),
    limit: int = Query(DEFAULT_LIMIT, description=f"Page size, 1 to {MAX_LIMIT}."),
    offset: int = Query(0, description="Runs skipped before the page."),
    ctx: UIContext = Depends(ui_context),
) -> Any:
    """A page of runs matching every filter, sorted, and how many match in all."""
    query = _query(
        pipeline=pipeline,
        experiment=experiment,
        state=state,
        since=since,
        until=until,
        lifecycle=lifecycle,
        param=param,
        metric=metric,
        q=q,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    if isinstance(query, JSONResponse):
        return query
    page = ctx.metadata.search_runs(query)
    rows = [run_row(r) for r in page.runs]
    return RunList(
        runs=rows,
        total=page.total,
        limit=limit,
        offset=offset,
        sort=str(query.sort),
        columns=RunColumns(
            parameters=sorted({k for r in rows for k in r.parameters}),
            metrics=sorted({k for r in rows for k in r.metrics}),
        ),
    )


@router.get("/experiments", response_model=ExperimentList, responses={400: {"model": ApiError}})
def list_experiments(
    lifecycle: str = Query("active", description="Count active, archived, deleted or all runs."),
    ctx: UIContext = Depends(ui_context),
) -> Any:
    """Every experiment with its runs counted by state (one grouped query), the newest run's
    start and its pipelines."""
    if lifecycle not in LIFECYCLES:
        return _error(f"Unknown lifecycle {lifecycle!r}.", f"Use one of {', '.join(LIFECYCLES)}.")
    rows: dict[str, ExperimentRow] = {}
    without = 0
    for group in ctx.metadata.summarize_runs(lifecycle):
        if group.experiment is None:
            without += group.count
            continue
        row = rows.setdefault(
            group.experiment, ExperimentRow(name=group.experiment, runs=0, states={}, pipelines=[])
        )
        row.runs += group.count
        state = group.state or "UNKNOWN"
        row.states[state] = row.states.get(state, 0) + group.count
        if group.pipeline and group.pipeline not in row.pipelines:
            row.pipelines.append(group.pipeline)
        if group.last_started_at is not None and (
            row.last_started_at is None or group.last_started_at > row.last_started_at
        ):
            row.last_started_at = group.last_started_at
    for context in ctx.metadata.list_contexts(CONTEXT_EXPERIMENT):
        row = rows.setdefault(
            context.name, ExperimentRow(name=context.name, runs=0, states={}, pipelines=[])
        )
        row.created_at = context.created_at.timestamp()
    for row in rows.values():
        row.pipelines.sort()
    ordered = sorted(
        rows.values(),
        key=lambda r: (-(r.last_started_at or r.created_at or 0.0), r.name),
    )
    return ExperimentList(experiments=ordered, runs_without_experiment=without, lifecycle=lifecycle)
