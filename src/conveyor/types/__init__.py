"""Artifact types and their identities."""

from conveyor.types.artifacts import (
    HTML,
    Artifact,
    Dataset,
    Markdown,
    Metrics,
    Model,
    artifact_type,
    is_artifact_type,
    is_compatible,
    registered_types,
)

__all__ = [
    "HTML",
    "Artifact",
    "Dataset",
    "Markdown",
    "Metrics",
    "Model",
    "artifact_type",
    "is_artifact_type",
    "is_compatible",
    "registered_types",
]
