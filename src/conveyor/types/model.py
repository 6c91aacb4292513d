"""Artifact types of the Model stage: TransformGraph (the fitted preprocessing) and
InferenceResult (a model's predictions on examples)."""

from __future__ import annotations

import os

from conveyor.types.artifacts import Artifact

__all__ = ["InferenceResult", "TransformGraph"]

TRANSFORM_FILE = "transform.json"


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
