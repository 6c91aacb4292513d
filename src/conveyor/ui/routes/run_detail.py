"""API routes of the run page: a run with its tasks, its graph, and its step logs."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from conveyor.errors import NotFoundError
from conveyor.ui.context import UIContext, ui_context
from conveyor.ui.graphs import DEFAULT_LIMIT, executions_graph, latest_instances, run_graph
from conveyor.ui.runview import RunRecords, load_run, load_spec, run_summary, task_rows

__all__ = ["Graph", "LogSlice", "RunDetail", "problem", "router"]

router = APIRouter(tags=["run-detail"])

LOG_SLICE_MAX = 1 << 20
"""The most bytes of a log one request returns (a client tails with ``offset``)."""

_FINAL = {"COMPLETE", "FAILED", "CACHED", "CANCELED", "SKIPPED"}


class GraphNode(BaseModel):
    """A node as ``static/js/graph.js`` draws it."""

    id: str
    label: str
    sublabel: str | None = None
    state: str | None = Field(None, description="execution state (colour); PENDING: not run")
    kind: str = Field("task", description="task, or group (a collapsed loop or parallel-for)")
    title: str | None = None
    task: str | None = None
    group: str | None = None
    execution_id: int | None = None
    expandable: bool | None = None
    more: bool | None = None


class GraphEdge(BaseModel):
    source: str
    target: str


class Graph(BaseModel):
    """A directed graph of tasks (or groups of task instances)."""

    nodes: list[GraphNode]
    edges: list[GraphEdge]


class TaskRow(BaseModel):
    """One execution of a task instance of the run."""

    execution_id: int
    name: str = Field(description="instance name: train, or train[3] inside a loop")
    label: str = Field(description="the task's display name (its name if it has none)")
    task: str
    component: str
    state: str
    latest: bool = Field(description="the newest execution of this instance")
    scope: dict[str, int] | None = None
    started_at: float | None = None
    finished_at: float | None = None
    duration_seconds: float | None = None
    cache: dict[str, Any] = Field(description="decision (CACHED, ran, SKIPPED), reason, key")
    attempts: list[dict[str, Any]]
    error: dict[str, Any] | None = Field(None, description="type, message, traceback")
    reason: str | None = None
    parameters: dict[str, Any]
    values: dict[str, Any] = Field(description="the output parameters' values")
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]] = Field(
        description="key, artifact_id, name, type, uri, size_bytes, digest, state"
    )
    has_log: bool
    host: str | None = None


class RunDetail(BaseModel):
    """A run (its properties and parents) and every execution of it."""

    run: dict[str, Any]
    tasks: list[TaskRow]


class LogSlice(BaseModel):
    """Part of a step's log: read on from ``offset`` to tail it."""

    text: str
    offset: int = Field(description="where the next read starts")
    size: int = Field(description="the log's size in bytes now")
    complete: bool = Field(description="the step is over and the whole log was read")
    state: str


def problem(status: int, error: str, fix: str) -> JSONResponse:
    """A clear JSON error: what went wrong and how to fix it."""
    return JSONResponse({"error": error, "fix": fix}, status_code=status)


def _no_run(run_id: str) -> JSONResponse:
    return problem(
        404,
        f"No run {run_id!r} in the metadata store.",
        "Check the run id (GET /api/v1/runs lists them); a run just started appears "
        "within a second or two.",
    )


_RESPONSES: dict[int | str, dict[str, Any]] = {404: {"description": "No such run"}}


@router.get("/runs/{run_id}", response_model=RunDetail, responses=_RESPONSES)
def get_run(run_id: str, ctx: UIContext = Depends(ui_context)) -> Any:
    """A run: state, lifecycle, pipeline, experiment, parameters, IR digest, source, times,
    owner, error, task states; and each execution with its cache decision and reason,
    attempts, error, parameters, inputs and outputs (five queries whatever the size, plus
    the pipeline version's IR once per server)."""
    records = load_run(ctx.metadata, run_id)
    if records is None:
        return _no_run(run_id)
    ids = [e.id for e in records.executions]
    events = ctx.metadata.get_events(execution_ids=ids) if ids else []
    wanted = sorted({ev.artifact_id for ev in events})
    artifacts = {a.id: a for a in ctx.metadata.get_artifacts(wanted)} if wanted else {}
    spec = load_spec(ctx.metadata, ctx.cache, records)
    labels = {
        name: task.display_name
        for name, task in (spec.tasks.items() if spec is not None else ())
        if task.display_name and task.display_name != name
    }
    return {
        "run": run_summary(records),
        "tasks": task_rows(records.executions, events, artifacts, labels),
    }


def _graph(ctx: UIContext, records: RunRecords, expand: list[str], limit: int) -> Any:
    spec = load_spec(ctx.metadata, ctx.cache, records)
    if spec is None:  # an older run: its executions linked by the artifacts they passed
        ids = [e.id for e in records.executions]
        events = ctx.metadata.get_events(execution_ids=ids) if ids else []
        return executions_graph(latest_instances(None, records.executions), events, limit=limit)
    unknown = [g for g in expand if g not in spec.groups or not spec.groups[g].iterates]
    if unknown:
        loops = sorted(g for g, s in spec.groups.items() if s.iterates)
        return problem(
            400,
            f"No loop or parallel-for named {unknown[0]!r} in pipeline {spec.name!r}.",
            f"expand= takes one of {loops!r}.",
        )
    finished = str(records.run.properties.get("state", "RUNNING")) != "RUNNING"
    instances = latest_instances(spec, records.executions)
    return run_graph(spec, instances, finished=finished, expand=expand, limit=limit)


@router.get(
    "/runs/{run_id}/graph",
    response_model=Graph,
    response_model_exclude_none=True,
    responses=_RESPONSES,
)
def get_run_graph(
    run_id: str,
    expand: list[str] = Query(default=[], description="loops or parallel-fors to open"),
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=5000, description="instances per open group"),
    ctx: UIContext = Depends(ui_context),
) -> Any:
    """The run's graph: the pipeline's tasks coloured with their newest execution's state
    (PENDING before it runs); each loop and parallel-for is one node counting its instances
    by state unless named in ``expand``."""
    records = load_run(ctx.metadata, run_id)
    if records is None:
        return _no_run(run_id)
    return _graph(ctx, records, expand, limit)


def _inside(path: str, root: str) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(root)
    try:
        return os.path.commonpath([real, base]) == base and real != base
    except ValueError:
        return False


def _whole_characters(data: bytes) -> int:
    """The length of ``data`` without a UTF-8 character cut at its end."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # a continuation byte: look further back for the lead
            continue
        if byte < 0x80:
            return len(data)
        need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
        return len(data) if back >= need else len(data) - back
    return len(data)


@router.get(
    "/runs/{run_id}/logs/{execution_id}",
    response_model=LogSlice,
    responses={403: {"description": "The log path leaves the logs folder"}, **_RESPONSES},
)
def get_log(
    run_id: str,
    execution_id: int,
    offset: int = Query(0, ge=0, description="first byte to read"),
    limit: int = Query(64 * 1024, ge=1, le=LOG_SLICE_MAX, description="bytes to read at most"),
    ctx: UIContext = Depends(ui_context),
) -> Any:
    """A slice of a step's log (UTF-8, undecodable bytes replaced), for tailing while it runs.
    Only files inside the server's logs folder are read."""
    try:
        execution = ctx.metadata.get_execution(execution_id)
    except NotFoundError:
        execution = None
    if execution is None or execution.properties.get("run_id") not in (None, run_id):
        return problem(
            404,
            f"No execution {execution_id!r} in run {run_id!r}.",
            "Take execution ids from GET /api/v1/runs/{run_id}.",
        )
    state = execution.state.value
    final = state in _FINAL
    path = execution.properties.get("log_path")
    if not isinstance(path, str) or not path:
        return {"text": "", "offset": offset, "size": 0, "complete": final, "state": state}
    root = os.path.join(ctx.config.home, "logs")
    if not _inside(path, root):
        return problem(
            403,
            f"The log of execution {execution_id!r} is not inside the logs folder {root!r}.",
            "Logs are served only from Conveyor's home; read this file on the machine itself.",
        )
    try:
        with open(os.path.realpath(path), "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            start = min(offset, size)
            fh.seek(start)
            data = fh.read(limit)
    except FileNotFoundError:
        return {"text": "", "offset": offset, "size": 0, "complete": final, "state": state}
    except OSError as exc:
        return problem(
            403, f"Cannot read the log of execution {execution_id!r}: {exc.strerror}.", ""
        )
    end = start + len(data)
    if end < size or not final:  # leave a character cut in two for the next read
        cut = _whole_characters(data)
        if cut:  # (a slice shorter than one character is sent as it is: it must move on)
            data, end = data[:cut], start + cut
    return {
        "text": data.decode("utf-8", errors="replace"),
        "offset": end,
        "size": size,
        "complete": final and end >= size,
        "state": state,
    }
