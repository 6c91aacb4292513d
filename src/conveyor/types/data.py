"""Artifact types of the Data stage (TFX names): Examples, ExampleStatistics, Schema,
ExampleAnomalies."""

from __future__ import annotations

import os

from conveyor.types.artifacts import Artifact

__all__ = ["ExampleAnomalies", "ExampleStatistics", "Examples", "Schema"]


class Examples(Artifact):
    """Tabular examples split into named splits, stored as Parquet.

    Layout: ``<path>/<split>/part-NNNNN.parquet``. Metadata: ``split_names`` (list),
    ``row_counts`` (split -> rows), ``span`` and ``version`` (when the input pattern has
    ``{SPAN}``/``{VERSION}``), ``columns`` (name -> logical type).
    """

    schema_title = "conveyor.Examples"
    description = "Tabular examples split into train/eval/... as Parquet."

    @property
    def split_names(self) -> list[str]:
        """The splits, in the order they were written."""
        names = self.metadata.get("split_names")
        if isinstance(names, list):
            return [str(n) for n in names]
        if os.path.isdir(self.path):
            return sorted(d for d in os.listdir(self.path) if not d.startswith("."))
        return []

    def split_path(self, split: str) -> str:
        """The folder holding the Parquet files of ``split``."""
        return os.path.join(self.path, split)


class ExampleStatistics(Artifact):
    """Statistics per split (and slice): ``<path>/statistics.json``."""

    schema_title = "conveyor.ExampleStatistics"
    description = "Per-split, per-feature statistics (mergeable)."


class Schema(Artifact):
    """A data schema: ``<path>/schema.yaml``, readable and editable."""

    schema_title = "conveyor.Schema"
    description = "Types, presence and domains of the features; drift/skew thresholds."


class ExampleAnomalies(Artifact):
    """Anomalies of data against a schema (and a baseline): ``<path>/anomalies.json``."""

    schema_title = "conveyor.ExampleAnomalies"
    description = "Anomalies, drift and skew found by ExampleValidator."
