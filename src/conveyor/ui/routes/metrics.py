"""API routes of the UI: metrics (to be built)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(tags=["metrics"])
