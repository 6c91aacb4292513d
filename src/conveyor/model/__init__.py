"""The Model stage library: preprocessing (transform), estimator presets, saved models."""

from conveyor.model.metrics import evaluate, main_metric
from conveyor.model.presets import PRESETS, Preset, create_estimator, resolve_preset
from conveyor.model.saved import LoadedModel, ModelManifest, load_model, save_model
from conveyor.model.transform import (
    FittedTransform,
    TransformOptions,
    fit_transform,
    load_transform,
)

__all__ = [
    "PRESETS",
    "FittedTransform",
    "LoadedModel",
    "ModelManifest",
    "Preset",
    "TransformOptions",
    "create_estimator",
    "evaluate",
    "fit_transform",
    "load_model",
    "load_transform",
    "main_metric",
    "resolve_preset",
    "save_model",
]
