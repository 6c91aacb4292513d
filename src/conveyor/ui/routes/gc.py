"""API routes of garbage collection: ``GET /gc`` (the plan) and ``POST /gc`` (do it)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from conveyor.operations import collect_garbage, plan_gc
from conveyor.ui.context import UIContext, ui_context
from conveyor.ui.routes.actions import acting

__all__ = ["router"]

router = APIRouter(tags=["gc"])


@router.get("/gc")
def gc_plan(ctx: UIContext = Depends(ui_context)) -> JSONResponse:
    """What ``gc`` would delete now: artifacts (id, type, run, uri, bytes), logs, total."""
    return acting(lambda: plan_gc(ctx.metadata, ctx.artifacts, home=ctx.config.home).as_dict())


@router.post("/gc")
def gc_collect(ctx: UIContext = Depends(ui_context)) -> JSONResponse:
    """Delete what the plan lists (artifacts marked DELETED first), and answer what went."""
    return acting(
        lambda: collect_garbage(ctx.metadata, ctx.artifacts, home=ctx.config.home).as_dict()
    )
