"""Baseline resolution and the Pusher: the two ends of the gate to production.

``latest_blessed_model`` finds the model an evaluation compares against: the pipeline's
production model (the latest pushed one) or its latest blessed one. ``pusher`` copies a
model to a serving destination only when its blessings allow it, and records the outcome
either way.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any

from conveyor._internal.paths import is_remote
from conveyor.components.importers import copy_source
from conveyor.dsl import Input, Output, component
from conveyor.execution.context import current_pipeline, current_run_id, current_task
from conveyor.metadata.entities import ArtifactState
from conveyor.types import Model
from conveyor.types.evaluation import InfraBlessing, ModelBlessing, PushedModel

__all__ = ["BASELINE_SOURCES", "latest_blessed_model", "pusher"]

BASELINE_SOURCES = ("pushed", "blessed", "pushed_or_blessed")
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


@component(cache=False, in_process=True)  # reads metadata: not worth a worker
def latest_blessed_model(
    model: Input[Model],
    baseline: Output[Model],
    source: str = "pushed_or_blessed",
    pipeline: str | None = None,
) -> bool:
    """Resolve the baseline ``model`` is compared against; never cached (it reads history).

    ``source``: ``pushed`` (the production model: the latest one the pusher pushed),
    ``blessed`` (the latest blessed model) or ``pushed_or_blessed`` (the first that
    exists). ``pipeline`` defaults to this run's pipeline. A model with the same content as
    ``model`` is skipped, so a rerun never compares a model with itself. The output holds
    the baseline's bytes (hard links when possible) with ``metadata["resolved"]``; when
    nothing is found it is empty, ``resolved`` is False, and the evaluator applies its
    first-run policy. Returns whether a baseline was found.

    Example:
        >>> base = latest_blessed_model(model=train.outputs["model"])  # doctest: +SKIP
        >>> evaluator(..., baseline_model=base.outputs["baseline"])  # doctest: +SKIP
    """
    if source not in BASELINE_SOURCES:
        raise ValueError(f"source must be one of {list(BASELINE_SOURCES)}, got {source!r}")
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


@component
def pusher(
    model: Input[Model],
    model_blessing: Input[ModelBlessing],
    pushed_model: Output[PushedModel],
    push_destination: str,
    infra_blessing: Input[InfraBlessing] | None = None,
) -> bool:
    """Push ``model`` to ``push_destination/<version>/`` if it is blessed (and passed infra
    validation when ``infra_blessing`` is given); otherwise record why not.

    The version is a Unix timestamp in seconds (TFX's layout, which serving systems watch
    for the highest number). ``push_destination`` is a local folder (the version is written
    beside it and renamed into place, so a server never sees half a model) or an fsspec URL
    (``s3://bucket/models/census``: files are uploaded, then ``conveyor_push.json`` last,
    which marks the version complete). Returns whether it pushed.

    Example:
        >>> pusher(model=train.outputs["model"], model_blessing=ev.outputs["blessing"],
        ...        infra_blessing=iv.outputs["blessing"],
        ...        push_destination="serving/census")  # doctest: +SKIP
    """
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
    if is_remote(push_destination):
        final, version = _push_remote(model.path, push_destination, metadata)
    else:
        final, version = _push_local(model.path, push_destination.removeprefix("file://"), metadata)
    content = {
        **metadata,
        "pushed": True,
        "reason": "blessed",
        "pushed_destination": final,
        "pushed_version": str(version),
    }
    pushed_model.write(content)
    pushed_model.metadata.update(content)
    return True
