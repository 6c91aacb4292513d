"""API routes of the UI: lineage (to be built)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(tags=["lineage"])
