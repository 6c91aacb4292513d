"""API routes of the UI: one artifact (record, producer and consumers, typed view, files).

- ``GET /artifacts/{id}``: the record, the execution that produced it and its run, the
  executions that consumed it, and the kind of view the page draws.
- ``GET /artifacts/{id}/view[?baseline=ID][&split=S&rows=N]``: the typed view as JSON
  (``artifact_views``); statistics with ``baseline`` (another statistics artifact) carry both.
- ``GET /artifacts/{id}/card.html``: a model card's page, for a sandboxed frame, under its
  own Content-Security-Policy (no script, nothing fetched).
- ``GET /artifacts/{id}/files`` and ``/download[?path=REL]``: the listing, a file, or the
  whole folder as a streamed zip; only under the artifact root (``artifact_files``).
"""

from __future__ import annotations

import mimetypes
import os
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, Response, StreamingResponse

from conveyor.metadata.entities import ArtifactRecord, ExecutionRecord
from conveyor.metadata.store import CONTEXT_PIPELINE, CONTEXT_RUN
from conveyor.types.evaluation import CARD_HTML
from conveyor.ui.context import UIContext, ui_context
from conveyor.ui.routes.artifact_files import (
    Refusal,
    artifact_folder,
    list_files,
    member,
    zip_stream,
)
from conveyor.ui.routes.artifact_views import view_kind, view_of

__all__ = ["CARD_CSP", "execution_summary", "router"]

router = APIRouter(tags=["artifacts"])

CARD_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
"""A model card's page: its own inline styles and data images, nothing else (no script)."""
MAX_CONSUMERS = 200
MAX_BASELINES = 50


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def artifact_summary(art: ArtifactRecord) -> dict[str, Any]:
    """The record of an artifact as JSON."""
    return {
        "id": art.id,
        "type": art.type_name,
        "name": art.name,
        "uri": art.uri,
        "state": str(art.state),
        "digest": art.fingerprint,
        "size": art.size_bytes,
        "properties": dict(art.properties),
        "created_at": _time(art.created_at),
    }


def execution_summary(ctx: UIContext, ex: ExecutionRecord) -> dict[str, Any]:
    """An execution as JSON with the run and pipeline it belongs to."""
    run = pipeline = None
    for c in ctx.metadata.get_execution_contexts(ex.id):
        if c.type_name == CONTEXT_RUN:
            run = c.name
        elif c.type_name == CONTEXT_PIPELINE:
            pipeline = c.name
    props = ex.properties
    return {
        "id": ex.id,
        "name": ex.name,
        "task": props.get("task", ex.name),
        "component": props.get("component", ex.type_name),
        "state": str(ex.state),
        "run": run,
        "pipeline": pipeline,
        "started_at": props.get("started_at"),
        "finished_at": props.get("finished_at"),
    }


def _links(ctx: UIContext, art: ArtifactRecord) -> tuple[list[ExecutionRecord], list[Any]]:
    """The executions that output ``art`` (oldest first) and those that took it as input."""
    events = ctx.metadata.get_events(artifact_ids=[art.id])
    producers = sorted({e.execution_id for e in events if e.type.is_output})
    consumers = sorted({e.execution_id for e in events if e.type.is_input})[:MAX_CONSUMERS]
    return (
        [ctx.metadata.get_execution(i) for i in producers],
        [(e.path, ctx.metadata.get_execution(e.execution_id)) for e in events
         if e.type.is_input and e.execution_id in consumers],
    )  # fmt: skip


def _folder(ctx: UIContext, art: ArtifactRecord) -> str:
    return artifact_folder(ctx.artifacts, ctx.config.artifact_root, art)


@router.get("/artifacts/{artifact_id}")
def get_artifact(artifact_id: int, ctx: UIContext = Depends(ui_context)) -> dict[str, Any]:
    """An artifact: its record, producer (and run), consumers and view kind."""
    art = ctx.metadata.get_artifact(artifact_id)
    producers, consumers = _links(ctx, art)
    return {
        **artifact_summary(art),
        "view": view_kind(art),
        "producer": execution_summary(ctx, producers[0]) if producers else None,
        "reused_by": [execution_summary(ctx, ex) for ex in producers[1:]],
        "consumers": [{**execution_summary(ctx, ex), "input": key} for key, ex in consumers],
    }


def _input_of(ctx: UIContext, execution_id: int, key: str) -> ArtifactRecord | None:
    for e in ctx.metadata.get_events(execution_ids=[execution_id]):
        if e.type.is_input and e.path == key:
            return ctx.metadata.get_artifact(e.artifact_id)
    return None


def _baselines(ctx: UIContext, art: ArtifactRecord, producer: ExecutionRecord | None) -> list[Any]:
    """Other statistics artifacts of the same pipeline (newest first): baseline choices."""
    if producer is None:
        return []
    pipeline = next(
        (c for c in ctx.metadata.get_execution_contexts(producer.id)
         if c.type_name == CONTEXT_PIPELINE), None,
    )  # fmt: skip
    if pipeline is None:
        return []
    found = ctx.metadata.list_artifacts(
        context_id=pipeline.id, type_name=art.type_name, limit=MAX_BASELINES + 1
    )
    return [
        {"id": a.id, "created_at": _time(a.created_at), "name": a.name}
        for a in found
        if a.id != art.id
    ][:MAX_BASELINES]


@router.get("/artifacts/{artifact_id}/view", response_model=None)
def get_view(
    artifact_id: int,
    baseline: int | None = Query(None, description="another statistics artifact to compare"),
    split: str | None = Query(None, max_length=200, description="a split of an Examples"),
    rows: int = Query(50, ge=1, le=10_000, description="rows of a data sample (capped)"),
    ctx: UIContext = Depends(ui_context),
) -> Any:
    """The typed view of an artifact (statistics, schema, anomalies, evaluation, card, data
    sample, model signature, metrics, or the file listing)."""
    art = ctx.metadata.get_artifact(artifact_id)
    try:
        folder = _folder(ctx, art)
        producers, _ = _links(ctx, art)
        producer = producers[0] if producers else None
        schema_folder = None
        kind = view_kind(art)
        if kind == "anomalies" and producer is not None:
            schema = _input_of(ctx, producer.id, "schema")
            if schema is not None:
                try:
                    schema_folder = _folder(ctx, schema)
                except Refusal:
                    schema_folder = None
        view = view_of(art, folder, schema_folder=schema_folder, split=split, rows=rows)
        if kind == "statistics":
            view["baselines"] = _baselines(ctx, art, producer)
            if baseline is not None:
                view["baseline"] = _baseline_view(ctx, baseline, art)
        elif baseline is not None:
            raise Refusal(
                400,
                f"artifact #{art.id} is a {art.type_name}: only statistics take a baseline",
                "leave out baseline=",
            )
        return view
    except Refusal as refusal:
        return refusal.response()


def _baseline_view(ctx: UIContext, baseline_id: int, art: ArtifactRecord) -> dict[str, Any]:
    other = ctx.metadata.get_artifact(baseline_id)
    if view_kind(other) != "statistics":
        raise Refusal(
            400,
            f"baseline #{baseline_id} is a {other.type_name}, not statistics",
            "choose another statistics artifact (the view's 'baselines' lists them)",
        )
    folder = _folder(ctx, other)
    view = view_of(other, folder)
    return {"artifact": other.id, "created_at": _time(other.created_at), **view}


@router.get("/artifacts/{artifact_id}/card.html", response_model=None)
def get_card(artifact_id: int, ctx: UIContext = Depends(ui_context)) -> Response:
    """A model card's self-contained page, for a sandboxed frame of the UI."""
    art = ctx.metadata.get_artifact(artifact_id)
    try:
        if view_kind(art) != "model_card":
            raise Refusal(
                400, f"artifact #{art.id} is a {art.type_name}, not a model card", "open its view"
            )
        path = member(_folder(ctx, art), CARD_HTML)
    except Refusal as refusal:
        return refusal.response()
    with open(path, "rb") as fh:
        body = fh.read()
    return Response(
        body,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": CARD_CSP, "X-Frame-Options": "SAMEORIGIN"},
    )


@router.get("/artifacts/{artifact_id}/files", response_model=None)
def get_files(artifact_id: int, ctx: UIContext = Depends(ui_context)) -> Any:
    """The artifact's files: ``[{path, size}]`` (relative to its folder) and whether the
    listing was cut short."""
    art = ctx.metadata.get_artifact(artifact_id)
    try:
        files, truncated = list_files(_folder(ctx, art))
    except Refusal as refusal:
        return refusal.response()
    return {"artifact": art.id, "files": files, "truncated": truncated}


@router.get("/artifacts/{artifact_id}/download", response_model=None)
def download(
    artifact_id: int,
    path: str | None = Query(None, max_length=1024, description="a file of the listing"),
    ctx: UIContext = Depends(ui_context),
) -> Response:
    """A file of the artifact (``path``), or the whole artifact (a folder as a zip)."""
    art = ctx.metadata.get_artifact(artifact_id)
    try:
        folder = _folder(ctx, art)
        if path is None and os.path.isdir(folder):
            name = f"artifact-{art.id}.zip"
            return StreamingResponse(
                zip_stream(folder),
                media_type="application/zip",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        file = folder if path is None else member(folder, path)
    except Refusal as refusal:
        return refusal.response()
    media = mimetypes.guess_type(file)[0] or "application/octet-stream"
    if media.startswith("text/html") or media.endswith(("javascript", "svg+xml")):
        media = "text/plain"  # never run an artifact's page or script on the UI's origin
    return FileResponse(
        file,
        media_type=media,
        filename=os.path.basename(file),
        headers={"Content-Security-Policy": "default-src 'none'; sandbox"},
    )
