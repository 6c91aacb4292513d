"""The API's routers, one module per page of the UI (each module's ``router``)."""

from __future__ import annotations

from fastapi import APIRouter

from conveyor.ui.routes import (
    actions,
    artifacts,
    compare,
    gc,
    lineage,
    metrics,
    models,
    pipelines,
    run_detail,
    runs,
    system,
)

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    system.router,
    pipelines.router,
    runs.router,
    run_detail.router,
    actions.router,
    artifacts.router,
    lineage.router,
    compare.router,
    metrics.router,
    models.router,
    gc.router,
)
