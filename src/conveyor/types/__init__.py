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
    register_view,
    registered_types,
)
from conveyor.types.data import ExampleAnomalies, Examples, ExampleStatistics, Schema
from conveyor.types.evaluation import (
    InfraBlessing,
    ModelBlessing,
    ModelCard,
    ModelEvaluation,
    PushedModel,
)
from conveyor.types.model import InferenceResult, OnnxModel, TransformGraph
from conveyor.types.tuning import HyperParameters, TunerResults

__all__ = [
    "HTML",
    "Artifact",
    "Dataset",
    "ExampleAnomalies",
    "ExampleStatistics",
    "Examples",
    "HyperParameters",
    "InferenceResult",
    "InfraBlessing",
    "Markdown",
    "Metrics",
    "Model",
    "ModelBlessing",
    "ModelCard",
    "ModelEvaluation",
    "OnnxModel",
    "PushedModel",
    "Schema",
    "TransformGraph",
    "TunerResults",
    "artifact_type",
    "is_artifact_type",
    "is_compatible",
    "register_view",
    "registered_types",
]
