"""Artifact types of the Model stage: TransformGraph (the fitted preprocessing)."""

from __future__ import annotations

import os

from conveyor.types.artifacts import Artifact

__all__ = ["TransformGraph"]

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
