"""API routes of the UI: the model registry.

- ``GET /models``: registered models (versions count, aliases, latest version); when none is
  registered, ``pushed`` lists the ``PushedModel`` artifacts instead.
- ``GET /models/{name}``: the versions (artifact, run, created_at, tags, description, the
  blessing and its reason, the key metrics of the evaluation behind it), the aliases and
  the full alias history (actor, reason, forced).

Through the :class:`~conveyor.metadata.registry.ModelRegistry` protocol, plus lineage: the
evaluation of a version is the one that took its ``Model`` artifact as ``model`` input.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from conveyor.errors import NotFoundError
from conveyor.metadata.entities import ArtifactRecord
from conveyor.metadata.registry import ModelRegistry, check_registry_name
from conveyor.types.evaluation import EVALUATION_FILE, PUSH_FILE, PushedModel
from conveyor.ui.context import UIContext, ui_context
from conveyor.ui.routes.artifact_files import Refusal, artifact_folder
from conveyor.ui.routes.artifact_views import document, type_title
from conveyor.ui.routes.artifacts import execution_summary

__all__ = ["router"]

router = APIRouter(tags=["models"])

KEY_METRICS = ("roc_auc", "accuracy", "f1", "recall", "log_loss", "rmse", "mae", "r2")
"""Metrics of an evaluation summary, in this order, when present (thresholded ones first)."""
MAX_KEY_METRICS = 4
MAX_PUSHED = 100


def _registry(ctx: UIContext) -> ModelRegistry | None:
    store = ctx.metadata
    return store if isinstance(store, ModelRegistry) else None


@router.get("/models")
def list_models(ctx: UIContext = Depends(ui_context)) -> dict[str, Any]:
    """Registered models; or, when there is none, the pushed models."""
    registry = _registry(ctx)
    models = []
    for m in registry.list_models() if registry is not None else []:
        models.append(
            {
                "name": m.name,
                "description": m.description,
                "tags": m.tags,
                "versions": len(registry.list_model_versions(m.name)) if registry else 0,
                "latest_version": m.latest_version,
                "aliases": m.aliases,
                "updated_at": m.updated_at.isoformat(),
            }
        )
    pushed: list[dict[str, Any]] = []
    if not models:
        pushed = _pushed(ctx)
    return {"models": models, "pushed": pushed, "registry": registry is not None}


def _pushed(ctx: UIContext) -> list[dict[str, Any]]:
    found = ctx.metadata.list_artifacts(type_name=PushedModel.type_id(), limit=MAX_PUSHED)
    out = []
    for art in found:
        doc: dict[str, Any] = {}
        try:
            doc = document(_folder(ctx, art), PUSH_FILE)
        except Refusal:
            doc = {}
        producer = _producer(ctx, art)
        out.append(
            {
                "artifact": art.id,
                "created_at": art.created_at.isoformat(),
                "pushed": doc.get("pushed", art.properties.get("pushed")),
                "reason": doc.get("reason"),
                "destination": doc.get("pushed_destination"),
                "run": producer["run"] if producer else None,
                "pipeline": producer["pipeline"] if producer else None,
            }
        )
    return out


def _folder(ctx: UIContext, art: ArtifactRecord) -> str:
    return artifact_folder(ctx.artifacts, ctx.config.artifact_root, art)


def _producer(ctx: UIContext, art: ArtifactRecord) -> dict[str, Any] | None:
    events = ctx.metadata.get_events(artifact_ids=[art.id])
    ids = sorted(e.execution_id for e in events if e.type.is_output)
    return execution_summary(ctx, ctx.metadata.get_execution(ids[0])) if ids else None


def _judgement(ctx: UIContext, artifact_id: int) -> dict[str, Any]:
    """The newest blessing of a Model artifact (by the evaluations that took it as their
    ``model`` input) and the key metrics of the evaluation that wrote it."""
    events = ctx.metadata.get_events(artifact_ids=[artifact_id])
    judges = sorted({e.execution_id for e in events if e.type.is_input and e.path == "model"})
    if not judges:
        return {"blessing": None, "evaluation": None}
    outputs = [e for e in ctx.metadata.get_events(execution_ids=judges) if e.type.is_output]
    arts = {a.id: a for a in ctx.metadata.get_artifacts({e.artifact_id for e in outputs})}
    blessing = evaluation = None
    for e in sorted(outputs, key=lambda e: (e.execution_id, e.artifact_id), reverse=True):
        art = arts.get(e.artifact_id)
        if art is None:
            continue
        title = type_title(art)
        if title == "conveyor.ModelBlessing" and blessing is None:
            blessing = art
            evaluation = next(
                (arts[o.artifact_id] for o in outputs
                 if o.execution_id == e.execution_id and o.artifact_id in arts
                 and type_title(arts[o.artifact_id]) == "conveyor.ModelEvaluation"), None,
            )  # fmt: skip
    result: dict[str, Any] = {"blessing": None, "evaluation": None}
    if blessing is not None:
        props = blessing.properties
        result["blessing"] = {
            "artifact": blessing.id,
            "blessed": props.get("blessed"),
            "reason": props.get("reason"),
            "forced": props.get("forced"),
        }
    if evaluation is not None:
        result["evaluation"] = _evaluation_summary(ctx, evaluation)
        if result["blessing"] is not None and result["blessing"]["reason"] is None:
            result["blessing"]["reason"] = result["evaluation"].pop("reason", None)
    return result


def _evaluation_summary(ctx: UIContext, art: ArtifactRecord) -> dict[str, Any]:
    summary: dict[str, Any] = {"artifact": art.id, "metrics": {}}
    try:
        doc = document(_folder(ctx, art), EVALUATION_FILE)
    except Refusal as refusal:
        summary["error"] = refusal.error
        return summary
    overall = ((doc.get("slices") or {}).get("overall") or {}).get("metrics", {})
    judged = [t.get("metric") for t in (doc.get("config") or {}).get("thresholds", [])]
    for metric in (*judged, *KEY_METRICS):
        if metric in overall and len(summary["metrics"]) < MAX_KEY_METRICS:
            summary["metrics"][metric] = overall[metric]
    summary["reason"] = (doc.get("blessing") or {}).get("reason")
    return summary


@router.get("/models/{name}")
def get_model(name: str, ctx: UIContext = Depends(ui_context)) -> Any:
    """A registered model: versions (with blessing and evaluation), aliases, alias history."""
    registry = _registry(ctx)
    if registry is None:
        return Refusal(
            404, "this metadata store has no model registry", "use a SQL metadata store"
        ).response()
    try:
        check_registry_name("model", name)
    except ValueError as exc:
        return Refusal(400, str(exc), "give a registered model's name").response()
    model = registry.get_model(name)
    versions = []
    for v in reversed(registry.list_model_versions(name)):
        try:
            art: ArtifactRecord | None = ctx.metadata.get_artifact(v.artifact_id)
        except NotFoundError:  # the artifact was removed from the store
            art = None
        producer = _producer(ctx, art) if art is not None else None
        versions.append(
            {
                "version": v.version,
                "artifact": v.artifact_id,
                "uri": v.uri,
                "artifact_state": str(art.state) if art is not None else None,
                "run": producer["run"] if producer else None,
                "pipeline": producer["pipeline"] if producer else None,
                "created_at": v.created_at.isoformat(),
                "description": v.description,
                "tags": v.tags,
                "aliases": list(v.aliases),
                **_judgement(ctx, v.artifact_id),
            }
        )
    return {
        "name": model.name,
        "description": model.description,
        "tags": model.tags,
        "created_at": model.created_at.isoformat(),
        "latest_version": model.latest_version,
        "aliases": model.aliases,
        "versions": versions,
        "history": [c.as_dict() for c in registry.alias_history(name)],
    }
