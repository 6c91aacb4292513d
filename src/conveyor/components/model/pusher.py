"""Baseline resolution and the Pusher: the two ends of the gate to production.

``latest_blessed_model`` finds the model an evaluation compares against: the pipeline's
production model (the latest pushed one), its latest blessed one, or the version a registry
alias points at. ``pusher`` copies a model to a serving destination and/or registers it as a
version of a registered model only when its blessings allow it, and records the outcome
either way.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping
from typing import Any

from conveyor._internal.paths import is_remote
from conveyor.components.importers import copy_source
from conveyor.components.model.registry_target import (
    check_registry_params,
    register_push,
    registry_baseline,
    tag_version,
)
from conveyor.dsl import Input, Output, component
from conveyor.execution.context import current_pipeline, current_run_id, current_task
from conveyor.metadata.entities import ArtifactState
from conveyor.metadata.registry import check_registry_name
from conveyor.types import Model
from conveyor.types.evaluation import InfraBlessing, ModelBlessing, PushedModel
from conveyor.types.model import OnnxModel

__all__ = ["BASELINE_SOURCES", "latest_blessed_model", "pusher"]

BASELINE_SOURCES = ("pushed", "blessed", "pushed_or_blessed", "registry")
"""Where a baseline may come from (see :func:`latest_blessed_model`)."""
PUSH_MARKER = "conveyor_push.json"
"""Written into every pushed version, last: who pushed what, from which run."""


_SOURCES: dict[str, tuple[tuple[type[PushedModel | ModelBlessing], str], ...]] = {
    "pushed": ((PushedModel, "pushed"),),
    "blessed": ((ModelBlessing, "blessed"),),
    "pushed_or_blessed": ((PushedModel, "pushed"), (ModelBlessing, "blessed")),
}
"""Where each baseline source looks, in order: records of this type whose flag is set."""


def _resolve(source: str, exclude: str | None, pipeline: str | None) -> tuple[Any, str] | None:
    """The newest LIVE model recorded by ``source`` for ``pipeline``, other than ``exclude``."""
    ctx = current_task()
    if ctx is None:
        return None
    for kind, flag in _SOURCES[source]:
        for record in ctx.metadata.list_artifacts(type_name=kind.type_id()):  # newest first
            props = record.properties
            if (
                record.state != ArtifactState.LIVE
                or not props.get(flag)
                or (pipeline is not None and props.get("pipeline") != pipeline)
                or props.get("model_artifact_id") is None
                or props.get("model_fingerprint") == exclude
            ):
                continue
            model = ctx.metadata.get_artifacts([int(props["model_artifact_id"])])
            if model and model[0].state == ArtifactState.LIVE:
                return model[0], flag
    return None


def _check_baseline_params(params: Mapping[str, Any]) -> None:
    """Check :func:`latest_blessed_model`'s parameters (at build time, only the literal ones:
    a value bound to a pipeline parameter is absent and checked at run time)."""
    source = params.get("source", "pushed_or_blessed")
    if "source" in params and source not in BASELINE_SOURCES:
        raise ValueError(f"source must be one of {list(BASELINE_SOURCES)}, got {source!r}")
    if "registered_model" not in params:
        return
    name = params["registered_model"]
    if source == "registry" and name is None:
        raise ValueError(
            "source='registry' reads an alias of a registered model: pass "
            "registered_model=... (e.g. registered_model='census', alias='champion')"
        )
    if name is not None and "source" in params and source != "registry":
        raise ValueError(
            f"registered_model={name!r} is read only with source='registry' (source is {source!r})"
        )
    if name is not None:
        check_registry_params(name, params.get("alias"))


def _registry_found(model: Model, registered_model: str, alias: str) -> tuple[Any, str] | None:
    ctx = current_task()
    record = None if ctx is None else registry_baseline(ctx.metadata, registered_model, alias)
    if record is None or (model.fingerprint and record.fingerprint == model.fingerprint):
        return None
    return record, f"models:/{registered_model}@{alias}"


@component(cache=False, in_process=True, check_params=_check_baseline_params)
def latest_blessed_model(
    model: Input[Model],
    baseline: Output[Model],
    source: str = "pushed_or_blessed",
    pipeline: str | None = None,
    registered_model: str | None = None,
    alias: str = "champion",
) -> bool:
    """Resolve the baseline ``model`` is compared against; never cached (it reads history).

    ``source``: ``pushed`` (the production model: the latest one the pusher pushed),
    ``blessed`` (the latest blessed model), ``pushed_or_blessed`` (the first that exists),
    or ``registry`` (the version ``alias`` of ``registered_model`` points at in the model
    registry, e.g. ``models:/census@champion``; a missing model or alias is a first run).
    ``pipeline`` defaults to this run's pipeline (the registry source ignores it). A model
    with the same content as ``model`` is skipped, so a rerun never compares a model with
    itself. The output holds the baseline's bytes (hard links when possible) with
    ``metadata["resolved"]``; when nothing is found it is empty, ``resolved`` is False, and
    the evaluator applies its first-run policy. Returns whether a baseline was found.

    Example:
        >>> base = latest_blessed_model(model=train.outputs["model"])  # doctest: +SKIP
        >>> base = latest_blessed_model(model=train.outputs["model"], source="registry",
        ...                             registered_model="census")  # doctest: +SKIP
        >>> evaluator(..., baseline_model=base.outputs["baseline"])  # doctest: +SKIP
    """
    _check_baseline_params({"source": source, "registered_model": registered_model, "alias": alias})
    if source == "registry":
        assert registered_model is not None  # checked above
        found = _registry_found(model, registered_model, alias)
    else:
        found = _resolve(source, model.fingerprint, pipeline or current_pipeline())
    if found is None:
        os.makedirs(baseline.path, exist_ok=True)
        baseline.metadata.update(resolved=False, source=source)
        return False
    record, via = found
    try:
        copy_source(record.uri, baseline.path, link=True)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"The baseline model {record.uri!r} (artifact {record.id}) is recorded LIVE but its "
            "files are gone; restore them or mark the artifact deleted"
        ) from None
    baseline.metadata.update(
        {k: v for k, v in record.properties.items() if isinstance(v, str | int | float | bool)},
        resolved=True,
        source=source,
        resolved_via=via,
        baseline_artifact_id=record.id,
        baseline_uri=record.uri,
    )
    return True


def _refusal(
    model: Model, model_blessing: ModelBlessing, infra_blessing: InfraBlessing | None
) -> str | None:
    judged = model_blessing.metadata.get("model_fingerprint")
    if judged is not None and model.fingerprint is not None and judged != model.fingerprint:
        return "the blessing judged another model (connect the evaluator's model)"
    if not model_blessing.blessed:
        return f"model not blessed ({model_blessing.metadata.get('reason', 'unknown reason')})"
    validated = None if infra_blessing is None else infra_blessing.metadata.get("model_fingerprint")
    if validated is not None and model.fingerprint is not None and validated != model.fingerprint:
        return "the infra validation checked another model (connect the same model to it)"
    if infra_blessing is not None and not infra_blessing.blessed:
        reason = infra_blessing.metadata.get("reason", "unknown reason")
        return f"infra validation failed ({reason})"
    return None


def _push_local(source: str, destination: str, metadata: dict[str, Any]) -> tuple[str, int]:
    """Copy beside the final folder, then rename into place: a server never sees half."""
    destination = os.path.abspath(destination)
    os.makedirs(destination, exist_ok=True)
    version = int(time.time())
    while os.path.exists(os.path.join(destination, str(version))):
        version += 1
    final = os.path.join(destination, str(version))
    staging = os.path.join(destination, f".{version}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    with open(os.path.join(staging, PUSH_MARKER), "w", encoding="utf-8") as fh:
        json.dump({**metadata, "version": version}, fh, indent=2, sort_keys=True)
    os.rename(staging, final)
    return final, version


def _push_remote(source: str, destination: str, metadata: dict[str, Any]) -> tuple[str, int]:
    """Upload to an fsspec URL. Object stores cannot rename a folder atomically, so the
    marker file ``conveyor_push.json`` is written last: a version without it is incomplete."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(destination)
    version = int(time.time())
    while fs.exists(f"{root.rstrip('/')}/{version}/{PUSH_MARKER}"):
        version += 1
    target = f"{root.rstrip('/')}/{version}"
    for folder, _, files in os.walk(source):
        relative = os.path.relpath(folder, source)
        for name in files:
            remote = target if relative == "." else f"{target}/{relative}"
            fs.put_file(os.path.join(folder, name), f"{remote}/{name}")
    with fs.open(f"{target}/{PUSH_MARKER}", "w") as fh:
        fh.write(json.dumps({**metadata, "version": version}, indent=2, sort_keys=True))
    return str(fs.unstrip_protocol(target)), version


def _check_push_params(params: Mapping[str, Any]) -> None:
    """Check :func:`pusher`'s parameters (at build time, only the literal ones: a value bound
    to a pipeline parameter is absent and checked at run time)."""
    targets = [params.get(k, "?") for k in ("push_destination", "registered_model")]
    if targets == [None, None]:
        raise ValueError(
            "the pusher needs a target: push_destination='serving/census' (a folder or "
            "fsspec URL), registered_model='census' (the model registry), or both"
        )
    if "registered_model" in params:
        check_registry_params(params["registered_model"], params.get("alias"))
    elif params.get("alias") is not None:
        check_registry_name("alias", params["alias"])


def _onnx_refusal(onnx_model: OnnxModel, model: Model) -> str | None:
    exported = onnx_model.metadata.get("model_fingerprint")
    if exported is not None and model.fingerprint is not None and exported != model.fingerprint:
        return "the ONNX export is of another model (connect the same model to onnx_exporter)"
    if not onnx_model.usable:
        return str(onnx_model.metadata.get("reason") or "the ONNX export is not usable")
    if not os.path.isfile(onnx_model.onnx_file):
        return f"the ONNX export has no file {onnx_model.onnx_file!r}"
    return None


def _push_onnx(
    onnx_model: OnnxModel, model: Model, destination: str | None, pushed: Mapping[str, Any]
) -> dict[str, Any]:
    """Ship a usable export beside the pushed version and/or tag the registry version."""
    refusal = _onnx_refusal(onnx_model, model)
    if refusal is not None:
        return {"onnx_pushed": False, "onnx_reason": refusal}
    parity = {k: v for k, v in onnx_model.metadata.items() if k.startswith("parity_")}
    where = onnx_model.uri or onnx_model.path
    out: dict[str, Any] = {"onnx_pushed": True, "onnx_uri": where, **parity}
    if destination is not None:
        name = f"{pushed['pushed_version']}.onnx"
        if is_remote(destination):
            import fsspec

            fs, root = fsspec.core.url_to_fs(destination)
            target = f"{root.rstrip('/')}/{name}"
            fs.put_file(onnx_model.onnx_file, target)
            out["onnx_destination"] = str(fs.unstrip_protocol(target))
        else:
            folder = os.path.abspath(destination.removeprefix("file://"))
            staging = os.path.join(folder, f".{name}.partial")
            shutil.copyfile(onnx_model.onnx_file, staging)
            os.replace(staging, os.path.join(folder, name))
            out["onnx_destination"] = os.path.join(folder, name)
    if "registered_version" in pushed:
        ctx = current_task()
        assert ctx is not None  # registering needed it
        tag_version(
            ctx.metadata,
            str(pushed["registered_model"]),
            int(pushed["registered_version"]),
            {"onnx_uri": where, **parity},
        )
    return out


@component(check_params=_check_push_params)
def pusher(
    model: Input[Model],
    model_blessing: Input[ModelBlessing],
    pushed_model: Output[PushedModel],
    push_destination: str | None = None,
    infra_blessing: Input[InfraBlessing] | None = None,
    registered_model: str | None = None,
    alias: str | None = None,
    onnx_model: Input[OnnxModel] | None = None,
) -> bool:
    """Push ``model`` to ``push_destination/<version>/`` and/or register it as a version of
    ``registered_model`` if it is blessed (and passed infra validation when
    ``infra_blessing`` is given); otherwise record why not.

    The folder version is a Unix timestamp in seconds (TFX's layout, which serving systems
    watch for the highest number). ``push_destination`` is a local folder (the version is
    written beside it and renamed into place, so a server never sees half a model) or an
    fsspec URL (``s3://bucket/models/census``: files are uploaded, then
    ``conveyor_push.json`` last, which marks the version complete).

    ``registered_model`` (e.g. ``"census"``) adds the model to the registry of the run's
    metadata store as its next version, bound to the ``Model`` artifact (so the version's
    lineage is the run's); ``alias`` (e.g. ``"champion"``) is then moved to that version,
    the move recorded in the alias history. A model whose content is already a version is
    not registered twice: that version is reused (and the alias moved to it only if it
    points elsewhere). A cached rerun of the pusher replays its earlier record and touches
    neither the folder nor the registry. The ``PushedModel`` records
    ``registered_version``, ``registered_uri`` (``models:/census/3``) and the alias move.

    ``onnx_model`` (an :func:`onnx_exporter` output of the same model) ships the ONNX
    export too, when its conversion and parity check passed: ``<version>.onnx`` beside the
    version folder, and the registry version tagged with ``onnx_uri`` and the parity
    figures. An unusable export does not stop the push; ``onnx_pushed`` False and
    ``onnx_reason`` record why. Returns whether it pushed.

    Example:
        >>> pusher(model=train.outputs["model"], model_blessing=ev.outputs["blessing"],
        ...        infra_blessing=iv.outputs["blessing"], push_destination="serving/census",
        ...        registered_model="census", alias="champion")  # doctest: +SKIP
    """
    _check_push_params(
        {
            "push_destination": push_destination,
            "registered_model": registered_model,
            "alias": alias,
        }
    )
    metadata: dict[str, Any] = {
        "model_uri": model.uri,
        "model_fingerprint": model.fingerprint,
        "model_artifact_id": model.id,
        "pipeline": current_pipeline(),
        "run_id": current_run_id(),
    }
    refusal = _refusal(model, model_blessing, infra_blessing)
    if refusal is not None:
        pushed_model.write({**metadata, "pushed": False, "reason": refusal})
        pushed_model.metadata.update(metadata, pushed=False, reason=refusal)
        return False
    content: dict[str, Any] = {**metadata, "pushed": True, "reason": "blessed"}
    if registered_model is not None:
        ctx = current_task()
        if ctx is None or model.id is None:
            raise RuntimeError(
                "registered_model needs a pipeline run: the model must be a recorded artifact"
            )
        content.update(
            register_push(
                ctx.metadata,
                registered_model,
                model_id=int(model.id),
                fingerprint=model.fingerprint or "",
                alias=alias,
                run_id=metadata["run_id"],
                reason=f"blessed ({model_blessing.metadata.get('reason', 'no reason recorded')})",
            )
        )
    if push_destination is not None:
        if is_remote(push_destination):
            final, version = _push_remote(model.path, push_destination, content)
        else:
            local = push_destination.removeprefix("file://")
            final, version = _push_local(model.path, local, content)
        content.update(pushed_destination=final, pushed_version=str(version))
    if onnx_model is not None:
        content.update(_push_onnx(onnx_model, model, push_destination, content))
    pushed_model.write(content)
    pushed_model.metadata.update(content)
    return True
