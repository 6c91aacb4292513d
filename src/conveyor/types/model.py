"""Artifact types of the Model stage: TransformGraph (the fitted preprocessing),
InferenceResult (a model's predictions on examples) and OnnxModel (a model exported to ONNX)."""

from __future__ import annotations

import os

from conveyor.types.artifacts import Artifact

__all__ = ["InferenceResult", "OnnxModel", "TransformGraph"]

TRANSFORM_FILE = "transform.json"
ONNX_FILE = "model.onnx"
ONNX_EXPORT_FILE = "onnx_export.json"


class TransformGraph(Artifact):
    """Preprocessing fitted on the train split: ``<path>/transform.json``.

    The file lists, per input feature, the operation (scale, bucketise, one-hot, ordinal,
    hashing, imputation) and its fitted parameters as plain JSON, so it can be read and
    reviewed; the same file is bundled in every model trained with it, so serving applies
    exactly the function training saw. Metadata: ``label``, ``inputs`` (name -> logical
    type), ``outputs`` (the transformed column names).

    Example:
        >>> TransformGraph.type_id()
        'conveyor.TransformGraph@1.0.0'
    """

    schema_title = "conveyor.TransformGraph"
    description = "Preprocessing fitted on train, applied identically in training and serving."

    @property
    def transform_file(self) -> str:
        """The JSON file holding the fitted transform."""
        return os.path.join(self.path, TRANSFORM_FILE)


class InferenceResult(Artifact):
    """A model's predictions on a split of examples: ``<path>/<split>/part-NNNNN.parquet``.

    Each file holds, row for row with the example file of the same name, the id column (when
    one was given), ``prediction`` and, for classifiers, ``probability_<class>`` per class.
    Metadata: ``split``, ``row_counts`` (split -> rows), ``columns``, ``model_uri``.

    Example:
        >>> InferenceResult.type_id()
        'conveyor.InferenceResult@1.0.0'
    """

    schema_title = "conveyor.InferenceResult"
    description = "A model's predictions (and class probabilities) on a split of examples."

    def split_path(self, split: str) -> str:
        """The folder holding the Parquet files of ``split``."""
        return os.path.join(self.path, split)


class OnnxModel(Artifact):
    """A model exported to ONNX, its transform included: ``<path>/model.onnx`` (absent when
    the model could not be converted) and ``<path>/onnx_export.json`` (the outcome).

    Metadata: ``converted`` (bool), ``reason`` (why not, when not), ``converter``,
    ``opset``, ``model_fingerprint``, ``model_artifact_id``, and the parity check against the
    model on eval rows: ``parity_rows``, ``parity_max_abs_diff``, ``parity_max_rel_diff``,
    ``parity_label_agreement``,
    ``parity_tolerance``, ``parity_min_agreement``, ``parity_passed``.

    Example:
        >>> OnnxModel(metadata={"converted": True, "parity_passed": True}).usable
        True
    """

    schema_title = "conveyor.OnnxModel"
    description = "A model exported to ONNX (with its transform), checked against the model."

    @property
    def onnx_file(self) -> str:
        """The ONNX model file."""
        return os.path.join(self.path, ONNX_FILE)

    @property
    def usable(self) -> bool:
        """Whether it was converted and its answers matched the model's (parity passed)."""
        return bool(self.metadata.get("converted")) and bool(self.metadata.get("parity_passed"))
