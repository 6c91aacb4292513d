"""ModelCard generator: the model card of an evaluated model, as HTML and Model Card JSON."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from conveyor.dsl import Input, Output, component
from conveyor.errors import ArtifactError
from conveyor.execution.context import current_pipeline, current_run_id, current_task
from conveyor.types import Examples, Model
from conveyor.types.evaluation import InfraBlessing, ModelBlessing, ModelCard, ModelEvaluation

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["model_card_generator"]


def _document(artifact: ModelBlessing | InfraBlessing) -> dict[str, Any]:
    """An artifact's JSON document over its metadata (either may be missing)."""
    doc = artifact.read() if os.path.isfile(artifact.file) else {}
    return {**artifact.metadata, **doc}


def _model_info(model: Model, evaluated: dict[str, Any]) -> dict[str, Any]:
    """What the model folder and its metadata tell; refuses an evaluation of another model."""
    theirs, ours = evaluated.get("fingerprint"), model.fingerprint
    other_id, our_id = evaluated.get("artifact_id"), model.id
    if (theirs and ours and theirs != ours) or (
        not (theirs and ours) and other_id is not None and our_id is not None and other_id != our_id
    ):
        raise ValueError(
            f"The evaluation is of model {evaluated.get('uri')!r} (artifact {other_id}, "
            f"fingerprint {theirs!r}), but the card's model is {model.uri!r} (artifact {our_id}, "
            f"fingerprint {ours!r}). Connect the same model to the Evaluator and the card"
        )
    from conveyor.model.saved import manifest_json

    manifest = manifest_json(model.path)
    meta = model.metadata
    inputs = (manifest.get("signature") or {}).get("inputs") or []
    return {
        "uri": model.uri,
        "artifact_id": model.id,
        "fingerprint": model.fingerprint,
        "framework": meta.get("framework") or manifest.get("framework"),
        "framework_version": manifest.get("framework_version"),
        "preset": meta.get("preset"),
        "run_fn": meta.get("run_fn"),
        "task": manifest.get("task") or meta.get("task"),
        "label": manifest.get("label") or meta.get("label"),
        "classes": manifest.get("classes") or meta.get("classes"),
        "inputs": [i.get("name") for i in inputs],
    }


def _read_columns(examples: Examples, split: str, columns: list[str]) -> pa.Table:
    """The ``columns`` of ``split`` that exist (only those are read)."""
    folder = examples.split_path(split)
    if not os.path.isdir(folder):
        raise ArtifactError(
            f"Examples at {examples.uri or examples.path!r} have no split {split!r}; splits: "
            f"{examples.split_names!r}. Set train_split / eval_split to one of them"
        )
    import pyarrow.dataset as ds  # here: it imports pandas, which a cached rerun never needs

    data = ds.dataset(folder, format="parquet")
    return data.to_table(columns=[c for c in dict.fromkeys(columns) if c in data.schema.names])


def _run() -> dict[str, Any]:
    ctx = current_task()
    if ctx is None:
        return {}
    return {
        "run_id": current_run_id(),
        "pipeline": current_pipeline(),
        "execution_id": ctx.execution_id,
    }


@component
def model_card_generator(
    model: Input[Model],
    evaluation: Input[ModelEvaluation],
    card: Output[ModelCard],
    examples: Input[Examples] | None = None,
    blessing: Input[ModelBlessing] | None = None,
    infra_blessing: Input[InfraBlessing] | None = None,
    name: str = "",
    version: str = "",
    description: str = "",
    owners: list[dict[str, str]] | None = None,
    references: list[str] | None = None,
    intended_use: str = "",
    users: list[str] | None = None,
    limitations: list[str] | None = None,
    tradeoffs: list[str] | None = None,
    ethical_considerations: list[dict[str, str]] | None = None,
    licenses: list[str] | None = None,
    sensitive_features: list[str] | None = None,
    train_split: str = "train",
    eval_split: str = "eval",
) -> None:
    """Write the model card: ``model_card.html`` (self-contained) and ``model_card.json``.

    Built from the run's metadata: the model (framework, preset, classes, lineage), the
    ``evaluation`` (metrics overall and per slice with their intervals, fairness gaps, the
    decision; ``blessing`` overrides its decision when given), ``infra_blessing``, and, with
    ``examples``, row counts and the label distribution per value of each
    ``sensitive_features`` column on ``train_split`` and ``eval_split`` (default: the
    evaluation's fairness or slice columns). The text fields are yours: ``name`` (default
    the pipeline), ``version`` (default the model's artifact id), ``description``,
    ``owners`` (``{"name", "contact"}``), ``references``, ``intended_use``, ``users``,
    ``limitations``, ``tradeoffs``, ``ethical_considerations`` (``{"name",
    "mitigation_strategy"}``) and ``licenses`` (SPDX ids). Metadata: ``name``, ``version``,
    ``blessed``, ``reason``, ``model_artifact_id``.

    Example:
        >>> model_card_generator(
        ...     model=trainer_task.outputs["model"], evaluation=ev.outputs["evaluation"],
        ...     examples=examples, blessing=ev.outputs["blessing"], name="Income classifier",
        ...     intended_use="Pre-screening loan applications; a person decides.",
        ...     owners=[{"name": "Risk team", "contact": "risk@example.com"}],
        ...     ethical_considerations=[{"name": "Sex bias",
        ...                              "mitigation_strategy": "Recall gap gated at 0.1"}],
        ...     sensitive_features=["sex", "race"])  # doctest: +SKIP
    """
    from conveyor.model.card import ModelCardText, build_model_card, default_sensitive_features
    from conveyor.model.card_html import render_model_card_html  # Jinja2

    doc = evaluation.read() if os.path.isfile(evaluation.file) else {}
    if not isinstance(doc.get("slices"), dict):
        raise ArtifactError(
            f"The evaluation at {evaluation.uri or evaluation.path!r} has no 'slices'; connect "
            "the 'evaluation' output of the Evaluator (a ModelEvaluation document)"
        )
    text = ModelCardText(
        name=name,
        version=version,
        description=description,
        owners=owners or (),
        references=references or (),
        intended_use=intended_use,
        users=users or (),
        limitations=limitations or (),
        tradeoffs=tradeoffs or (),
        ethical_considerations=ethical_considerations or (),
        licenses=licenses or (),
    )
    info = _model_info(model, dict(doc.get("model") or {}))
    data: dict[str, pa.Table] = {}
    links: dict[str, str] = {}
    if examples is not None:
        label = doc.get("label") or info.get("label")
        wanted = [*(sensitive_features or default_sensitive_features(doc)), str(label)]
        for split in dict.fromkeys((train_split, eval_split)):
            data[split] = _read_columns(examples, split, wanted)
            links[split] = f"{examples.uri.rstrip('/')}/{split}" if examples.uri else ""
    content = build_model_card(
        doc,
        text=text,
        model=info,
        data=data,
        data_links=links,
        sensitive_features=sensitive_features,
        blessing=_document(blessing) if blessing is not None else None,
        infra_blessing=_document(infra_blessing) if infra_blessing is not None else None,
        run=_run(),
        date=datetime.now(UTC).date().isoformat(),
    )
    page = render_model_card_html(content)
    os.makedirs(card.path, exist_ok=True)
    with open(card.json_file, "w", encoding="utf-8") as fh:
        json.dump(content, fh, indent=1, allow_nan=False)
    with open(card.html_file, "w", encoding="utf-8") as fh:
        fh.write(page)
    decision = content["conveyor"]["blessing"]
    card.metadata.update(
        name=content["model_details"]["name"],
        version=content["model_details"]["version"]["name"],
        blessed=decision["blessed"],
        reason=decision["reason"],
        model_artifact_id=model.id,
    )
