"""Artifact types of the Tuner: HyperParameters (the best configuration) and TunerResults."""

from __future__ import annotations

import json
import os
from typing import Any

from conveyor.types.artifacts import Artifact

__all__ = ["HyperParameters", "TunerResults"]

HYPERPARAMETERS_FILE = "hyperparameters.json"
TRIALS_FILE = "trials.json"


class HyperParameters(Artifact):
    """The best configuration a Tuner found: ``<path>/hyperparameters.json``.

    The file holds ``{"preset": ..., "hyperparameters": {...}, "metric": ..., "value": ...}``:
    the preset (``xgboost``, ``sklearn:RandomForestClassifier``, ...), the hyperparameters to
    build it with, and the eval metric it reached. The Trainer consumes it in place of its
    ``preset`` and ``hyperparameters`` parameters.

    Example:
        >>> HyperParameters.type_id()
        'conveyor.HyperParameters@1.0.0'
    """

    schema_title = "conveyor.HyperParameters"
    description = "A preset and its hyperparameters, chosen by a search (the Tuner)."

    @property
    def file(self) -> str:
        """The JSON file holding the preset and its hyperparameters."""
        return os.path.join(self.path, HYPERPARAMETERS_FILE)

    def write(
        self, preset: str, hyperparameters: dict[str, Any], metric: str, value: float
    ) -> None:
        """Write the folder and its ``hyperparameters.json``; mirror it in ``metadata``."""
        content = {
            "preset": preset,
            "hyperparameters": hyperparameters,
            "metric": metric,
            "value": value,
        }
        os.makedirs(self.path, exist_ok=True)
        with open(self.file, "w", encoding="utf-8") as fh:
            json.dump(content, fh, indent=2, sort_keys=True)
        self.metadata.update(content)

    def read(self) -> dict[str, Any]:
        """``{"preset", "hyperparameters", "metric", "value"}`` from ``hyperparameters.json``.

        Raises:
            FileNotFoundError: the artifact has no ``hyperparameters.json``.
            ValueError: the file lacks ``preset`` or ``hyperparameters``.
        """
        path = self.file if os.path.isdir(self.path) else self.path
        with open(path, encoding="utf-8") as fh:
            content: dict[str, Any] = json.load(fh)
        if not isinstance(content.get("preset"), str) or not isinstance(
            content.get("hyperparameters"), dict
        ):
            raise ValueError(
                f"{path} is not a HyperParameters file: it needs a 'preset' string and a "
                "'hyperparameters' object"
            )
        return content


class TunerResults(Artifact):
    """Every trial of a search: ``<path>/trials.json``.

    A list of ``{"number", "preset", "params", "value", "state", "duration_seconds"}``
    (``state`` is ``COMPLETE``, ``PRUNED`` or ``FAIL``; a failed trial has an ``error``).
    Metadata: ``metric``, ``direction``, ``sampler``, ``n_trials`` and the count per state.

    Example:
        >>> TunerResults.type_id()
        'conveyor.TunerResults@1.0.0'
    """

    schema_title = "conveyor.TunerResults"
    description = "Every trial of a hyperparameter search: parameters, metric, duration."

    @property
    def file(self) -> str:
        """The JSON file listing the trials."""
        return os.path.join(self.path, TRIALS_FILE)

    def write(self, trials: list[dict[str, Any]]) -> None:
        """Write the folder and its ``trials.json``."""
        os.makedirs(self.path, exist_ok=True)
        with open(self.file, "w", encoding="utf-8") as fh:
            json.dump(trials, fh, indent=2)

    def read(self) -> list[dict[str, Any]]:
        """The trials from ``trials.json``."""
        with open(self.file, encoding="utf-8") as fh:
            trials: list[dict[str, Any]] = json.load(fh)
        return trials
