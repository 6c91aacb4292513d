"""API routes of the UI: pipelines (to be built)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(tags=["pipelines"])
