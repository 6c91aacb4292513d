"""Artifact types of the gate to production: evaluations, blessings, model cards, pushes."""

from __future__ import annotations

import json
import os
from typing import Any

from conveyor.types.artifacts import Artifact

__all__ = ["InfraBlessing", "ModelBlessing", "ModelCard", "ModelEvaluation", "PushedModel"]

EVALUATION_FILE = "evaluation.json"
BLESSING_FILE = "blessing.json"
INFRA_FILE = "infra_validation.json"
CARD_HTML = "model_card.html"
CARD_JSON = "model_card.json"
PUSH_FILE = "push.json"


class _JsonArtifact(Artifact):
    """An artifact whose content is one JSON document in its folder."""

    file_name = ""

    @property
    def file(self) -> str:
        """The JSON document of this artifact."""
        return os.path.join(self.path, self.file_name)

    def write(self, content: dict[str, Any]) -> None:
        """Write the folder and its JSON document."""
        os.makedirs(self.path, exist_ok=True)
        with open(self.file, "w", encoding="utf-8") as fh:
            json.dump(content, fh, indent=2, sort_keys=True, default=str)

    def read(self) -> dict[str, Any]:
        """The JSON document."""
        with open(self.file, encoding="utf-8") as fh:
            data: dict[str, Any] = json.load(fh)
        return data


class ModelEvaluation(_JsonArtifact):
    """Metrics of a model overall and per slice: ``<path>/evaluation.json``.

    The document holds ``config`` (the EvalConfig), ``task``, ``classes``, ``slices`` (slice
    name -> count, metrics, too_small, features, and with bootstrap ``intervals``: metric ->
    ``[low, high]``), ``baseline`` (the baseline's slices, when one was evaluated), ``changes``
    (slice -> metric -> candidate minus baseline, with its interval), ``fairness`` (per-slice
    gaps) and ``blessing`` (the decision). Metadata mirrors the overall metrics.

    Example:
        >>> ModelEvaluation.type_id()
        'conveyor.ModelEvaluation@1.0.0'
    """

    schema_title = "conveyor.ModelEvaluation"
    description = "Metrics overall and per slice, against a baseline, with the decision."
    file_name = EVALUATION_FILE


class _Decision(_JsonArtifact):
    """A JSON artifact whose metadata records a ``blessed`` decision."""

    @property
    def blessed(self) -> bool:
        """Whether the decision blesses the model."""
        return bool(self.metadata.get("blessed"))


class ModelBlessing(_Decision):
    """Whether a model may go to production, and why: ``<path>/blessing.json``.

    Unlike TFX, every evaluation writes one, blessed or not, with a machine-readable
    ``reason`` (``BLESSED``, ``NOT_BLESSED_THRESHOLDS``, ``NO_THRESHOLDS_CONFIGURED``,
    ``FIRST_RUN_VALUE_THRESHOLDS_ONLY``, ``FIRST_RUN_BLOCKED``, ``FORCED``), the failed
    thresholds and the model it judged. An empty ``BLESSED`` or ``NOT_BLESSED`` marker file
    is written too, as TFX does. Metadata: ``blessed``, ``reason``, ``pipeline``,
    ``model_uri``, ``model_fingerprint``, ``model_artifact_id``.

    Example:
        >>> ModelBlessing(metadata={"blessed": True}).blessed
        True
    """

    schema_title = "conveyor.ModelBlessing"
    description = "The decision (blessed or not) on a model, with its reasons."
    file_name = BLESSING_FILE


class InfraBlessing(_Decision):
    """Whether a model loads and answers as serving will run it: ``<path>/infra_validation.json``.

    Metadata: ``blessed``, ``reason``, and the measured load time, latency and memory.

    Example:
        >>> InfraBlessing(metadata={"blessed": False}).blessed
        False
    """

    schema_title = "conveyor.InfraBlessing"
    description = "Whether the model loads and predicts in a fresh serving-like process."
    file_name = INFRA_FILE


class ModelCard(Artifact):
    """A model card: ``<path>/model_card.html`` (self-contained) and ``model_card.json``.

    The JSON follows the Model Card Toolkit schema's fields (``model_details``,
    ``model_parameters``, ``quantitative_analysis``, ``considerations``).

    Example:
        >>> ModelCard.type_id()
        'conveyor.ModelCard@1.0.0'
    """

    schema_title = "conveyor.ModelCard"
    description = "Documentation of a model: details, data, metrics per slice, decision."

    @property
    def html_file(self) -> str:
        """The self-contained HTML page."""
        return os.path.join(self.path, CARD_HTML)

    @property
    def json_file(self) -> str:
        """The card as Model Card Toolkit JSON."""
        return os.path.join(self.path, CARD_JSON)


class PushedModel(_JsonArtifact):
    """The outcome of a push: ``<path>/push.json`` (where the model went, or why not).

    Metadata: ``pushed``, ``pushed_destination``, ``pushed_version``, ``reason``,
    ``model_uri``, ``model_fingerprint``, ``pipeline``; into the registry also
    ``registered_model``, ``registered_version``, ``registered_uri``, ``registered_new``,
    ``alias``, ``alias_moved``, ``alias_from_version``; with an ONNX export ``onnx_pushed``,
    ``onnx_reason`` or ``onnx_destination``, ``onnx_uri`` and its ``parity_*`` figures.

    Example:
        >>> PushedModel(metadata={"pushed": False}).pushed
        False
    """

    schema_title = "conveyor.PushedModel"
    description = "A model pushed to a serving destination (or the reason it was not)."
    file_name = PUSH_FILE

    @property
    def pushed(self) -> bool:
        """Whether the model was pushed."""
        return bool(self.metadata.get("pushed"))
