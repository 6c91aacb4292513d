"""API routes of the run actions: archive, restore, delete (with its preview), terminate,
retry and clone. Every action is a POST (the guard's CSRF header) answering JSON; an action
the run's state forbids is a 409, a bad value a 400, an unknown run a 404, each as
``{"error", "fix"}``."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse

from conveyor.errors import ConveyorError, NotFoundError
from conveyor.operations import (
    ActionError,
    Relaunch,
    archive_run,
    clone_plan,
    delete_run,
    launch,
    launch_environment,
    plan_gc,
    restore_run,
    retry_plan,
    terminate_run,
    wait_started,
)
from conveyor.ui.context import UIContext, ui_context

__all__ = ["acting", "router"]

router = APIRouter(tags=["actions"])

START_WAIT_SECONDS = 15.0
"""How long a retry or clone waits for the launched run to be recorded before answering 202
(a pipeline that fails to load is answered as an error instead)."""


def acting(action: Callable[[], Any], status: int = 200) -> JSONResponse:
    """Run ``action`` and answer its result, or its error as ``{"error", "fix"}``."""
    try:
        return JSONResponse(action(), status_code=status)
    except ActionError as exc:
        return JSONResponse({"error": exc.message, "fix": exc.fix}, status_code=exc.status)
    except NotFoundError as exc:
        fix = "Check the run id (GET /api/v1/runs lists runs)"
        return JSONResponse({"error": str(exc), "fix": fix}, status_code=404)
    except ConveyorError as exc:
        return JSONResponse({"error": str(exc), "fix": "Check the request"}, status_code=400)


@router.post("/runs/{run_id}/archive")
def archive(run_id: str, ctx: UIContext = Depends(ui_context)) -> JSONResponse:
    """Archive a run (hidden from the default lists; everything kept). 409 while RUNNING."""
    return acting(lambda: archive_run(ctx.metadata, run_id))


@router.post("/runs/{run_id}/restore")
def restore(run_id: str, ctx: UIContext = Depends(ui_context)) -> JSONResponse:
    """Bring an archived or deleted run back to the lists."""
    return acting(lambda: restore_run(ctx.metadata, run_id))


@router.get("/runs/{run_id}/delete-preview")
def delete_preview(run_id: str, ctx: UIContext = Depends(ui_context)) -> JSONResponse:
    """What deleting the run would let ``gc`` free: artifacts, logs, bytes."""
    return acting(
        lambda: plan_gc(ctx.metadata, ctx.artifacts, home=ctx.config.home, only_runs=[run_id])
        .as_dict()
    )  # fmt: skip


@router.post("/runs/{run_id}/delete")
def delete(run_id: str, ctx: UIContext = Depends(ui_context)) -> JSONResponse:
    """Mark a run deleted (its artifacts become garbage for gc). 409 while RUNNING."""
    return acting(lambda: delete_run(ctx.metadata, run_id))


@router.post("/runs/{run_id}/terminate")
def terminate(run_id: str, ctx: UIContext = Depends(ui_context)) -> JSONResponse:
    """SIGTERM the run's orchestrator (checked to be that process), wait a few seconds, and
    answer the state then (``CANCELED`` once its exit handlers ran)."""
    return acting(
        lambda: terminate_run(
            ctx.metadata, run_id, wait_seconds=10.0, open_storage=lambda: ctx.artifacts
        )
    )


def _start(ctx: UIContext, plan: Relaunch) -> dict[str, Any]:
    env = launch_environment(os.environ, ctx.config.environment, ctx.config.home)
    proc = launch(plan, home=ctx.config.home, env=env)
    started = wait_started(
        ctx.metadata, plan, proc, home=ctx.config.home, timeout=START_WAIT_SECONDS
    )
    return {
        "run_id": plan.run_id,
        "url": f"/runs/{plan.run_id}?starting=1",
        "started": started,
        "parameters": dict(plan.parameters),
        "experiment": plan.experiment,
    }


@router.post("/runs/{run_id}/retry", status_code=202)
def retry(run_id: str, ctx: UIContext = Depends(ui_context)) -> JSONResponse:
    """Retry a FAILED or CANCELED run in place (only what did not succeed runs again), in a
    detached ``conveyor runs retry``; 202 ``{"run_id", "url"}``."""
    return acting(lambda: _start(ctx, retry_plan(ctx.metadata, run_id)), status=202)


@router.post("/runs/{run_id}/clone", status_code=202)
def clone(
    run_id: str,
    body: dict[str, Any] | None = Body(default=None),
    ctx: UIContext = Depends(ui_context),
) -> JSONResponse:
    """Start a new run of the run's pipeline: body ``{"parameters": {name: value},
    "experiment": name, "run_id": id}`` (all optional), parameters checked against the
    pipeline's types first (400 naming the parameter); 202 ``{"run_id", "url"}``."""
    body = body or {}
    edits = body.get("parameters") or {}
    experiment = body.get("experiment")
    new_id = body.get("run_id")
    bad = (
        not isinstance(edits, dict)
        or not (experiment is None or isinstance(experiment, str))
        or not (new_id is None or isinstance(new_id, str))
    )
    if bad:
        return JSONResponse(
            {
                "error": 'The body must be {"parameters": {name: value}, "experiment": '
                'text, "run_id": text}',
                "fix": "Send a JSON object with those optional fields",
            },
            status_code=400,
        )

    def start() -> dict[str, Any]:
        plan = clone_plan(
            ctx.metadata, run_id, edits, experiment=experiment or None, new_id=new_id or None
        )
        return _start(ctx, plan)

    return acting(start, status=202)
