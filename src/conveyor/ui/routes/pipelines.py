"""API routes of the pipelines page: each pipeline, its versions (IR digests), a version's IR
(parameters, components) and its graph."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from conveyor.metadata import CONTEXT_PIPELINE, CONTEXT_PIPELINE_VERSION, CONTEXT_RUN
from conveyor.metadata.sql.pipelines import pipeline_summaries, version_run_counts
from conveyor.metadata.sql.store import SqlMetadataStore
from conveyor.ui.context import UIContext, ui_context
from conveyor.ui.graphs import pipeline_graph
from conveyor.ui.routes.run_detail import Graph, problem
from conveyor.ui.runview import spec_of_version

__all__ = ["router"]

router = APIRouter(tags=["pipelines"])

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class PipelineSummary(BaseModel):
    name: str
    context_id: int
    created_at: float
    runs: int = Field(description="runs of any version")
    versions: int = Field(description="distinct IRs run")
    last_run: dict[str, Any] | None = Field(None, description="id, state, started_at")
    latest_version: dict[str, Any] | None = Field(None, description="name, digest")


class PipelineList(BaseModel):
    pipelines: list[PipelineSummary]


class VersionRow(BaseModel):
    name: str
    digest: str
    created_at: float | None
    runs: int


class PipelineDetail(BaseModel):
    name: str
    description: str | None = None
    versions: list[VersionRow] = Field(description="newest first")


class PipelineVersion(BaseModel):
    name: str
    pipeline: str
    digest: str
    created_at: float | None
    description: str
    ir_version: str
    parameters: dict[str, Any]
    components: dict[str, Any]
    tasks: dict[str, Any]
    groups: dict[str, Any]
    graph: Graph


def _fallback_summaries(ctx: UIContext) -> list[dict[str, Any]]:
    """The summaries through the store protocol (a store that is not SQL)."""
    out = []
    for p in sorted(ctx.metadata.list_contexts(CONTEXT_PIPELINE), key=lambda c: c.name):
        versions = ctx.metadata.list_contexts(CONTEXT_PIPELINE_VERSION, parent_id=p.id)
        runs = ctx.metadata.list_contexts(CONTEXT_RUN, parent_id=p.id)
        last = runs[0] if runs else None
        out.append(
            {
                "name": p.name,
                "context_id": p.id,
                "created_at": p.created_at.timestamp(),
                "runs": len(runs),
                "versions": len(versions),
                "last_run": None
                if last is None
                else {"id": last.name, **{k: last.properties.get(k) for k in ("state",)}},
                "latest_version": None
                if not versions
                else {"name": versions[0].name, "digest": versions[0].name.partition("@")[2]},
            }
        )
    return out


@router.get("/pipelines", response_model=PipelineList)
def list_pipelines(ctx: UIContext = Depends(ui_context)) -> Any:
    """Every pipeline with its number of versions and runs, its last run and latest version."""
    if isinstance(ctx.metadata, SqlMetadataStore):
        return {"pipelines": pipeline_summaries(ctx.metadata)}
    return {"pipelines": _fallback_summaries(ctx)}


def _no_pipeline(name: str) -> Any:
    return problem(
        404,
        f"No pipeline {name!r} in the metadata store.",
        "GET /api/v1/pipelines lists the pipelines that have run.",
    )


@router.get("/pipelines/{name}", response_model=PipelineDetail, responses={404: {}})
def get_pipeline(name: str, ctx: UIContext = Depends(ui_context)) -> Any:
    """A pipeline's versions (one per distinct IR run), newest first, with their run counts."""
    pipeline = ctx.metadata.find_context(CONTEXT_PIPELINE, name)
    if pipeline is None:
        return _no_pipeline(name)
    versions = ctx.metadata.list_contexts(CONTEXT_PIPELINE_VERSION, parent_id=pipeline.id)
    if isinstance(ctx.metadata, SqlMetadataStore):
        counts = version_run_counts(ctx.metadata, [v.id for v in versions])
    else:
        counts = {
            v.id: len(ctx.metadata.list_contexts(CONTEXT_RUN, parent_id=v.id)) for v in versions
        }
    description = None
    rows = []
    for v in versions:
        created = v.properties.get("created_at")
        rows.append(
            {
                "name": v.name,
                "digest": str(v.properties.get("digest") or v.name.partition("@")[2]),
                "created_at": float(created) if isinstance(created, int | float) else None,
                "runs": counts.get(v.id, 0),
            }
        )
        if description is None:
            ir = v.properties.get("ir")
            head = ir.get("pipeline") if isinstance(ir, dict) else None
            description = head.get("description") if isinstance(head, dict) else None
    return {"name": name, "description": description, "versions": rows}


@router.get(
    "/pipelines/{name}/versions/{digest}", response_model=PipelineVersion, responses={404: {}}
)
def get_pipeline_version(
    name: str,
    digest: str,
    expand: list[str] = Query(default=[], description="loops or parallel-fors to open"),
    ctx: UIContext = Depends(ui_context),
) -> Any:
    """One version of a pipeline: its IR's parameters, components, tasks, groups, and the graph
    of its tasks (loops and parallel-fors collapsed unless in ``expand``)."""
    if not _DIGEST.match(digest):
        return problem(
            400,
            f"{digest!r} is not an IR digest.",
            "A digest is sha256: and 64 hex digits, as GET /api/v1/pipelines/{name} lists them.",
        )
    version = ctx.metadata.find_context(CONTEXT_PIPELINE_VERSION, f"{name}@{digest}")
    spec = spec_of_version(ctx.cache, version) if version is not None else None
    if version is None or spec is None:
        return problem(
            404,
            f"No version {digest!r} of pipeline {name!r}.",
            f"GET /api/v1/pipelines/{name} lists its versions.",
        )
    ir = version.properties["ir"]
    created = version.properties.get("created_at")
    unknown = [g for g in expand if g not in spec.groups]
    if unknown:
        return problem(
            400,
            f"No group named {unknown[0]!r} in pipeline {name!r}.",
            f"expand= takes one of {sorted(spec.groups)!r}.",
        )
    return {
        "name": version.name,
        "pipeline": name,
        "digest": digest,
        "created_at": float(created) if isinstance(created, int | float) else None,
        "description": spec.description,
        "ir_version": spec.ir_version,
        "parameters": dict((ir.get("pipeline") or {}).get("parameters") or {}),
        "components": dict(ir.get("components") or {}),
        "tasks": dict(ir.get("tasks") or {}),
        "groups": dict(ir.get("groups") or {}),
        "graph": pipeline_graph(spec, expand=expand),
    }
