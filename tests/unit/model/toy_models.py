"""Shared test data of the model tests: a toy feature table, and two binary classifiers of
clearly different quality scored with a paired bootstrap."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from conveyor.data.model import DataSchema, FeatureSchema, FeatureType
from conveyor.model.bootstrap import BootstrapResult, Predictions, bootstrap_metrics

SCHEMA = DataSchema(
    [
        FeatureSchema("x", FeatureType.FLOAT),
        FeatureSchema("c", FeatureType.STRING, values=["a", "b"]),
        FeatureSchema("y", FeatureType.STRING),
    ]
)
"""The schema of :func:`toy_table`: a float, a two-value string and the label ``y``."""
CLASSES = ["no", "yes"]


def toy_table(rows: int) -> pa.Table:
    """``rows`` rows of ``x``, ``c`` and a label ``y`` (``"yes"`` when ``x + (c == "a") >
    0.5``), the same for the same ``rows``."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=rows)
    c = rng.choice(["a", "b"], rows)
    return pa.table({"x": x, "c": c, "y": np.where(x + (c == "a") > 0.5, "yes", "no")})


def better_and_worse(seed: int, n: int = 3000) -> tuple[np.ndarray, Predictions, Predictions]:
    """Binary truth, then a model with little noise and one with much more (same ``seed``,
    same data)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)

    def model(noise: float) -> Predictions:
        p1 = 1 / (1 + np.exp(-((truth - 0.5) * 2 + rng.normal(0, noise, n))))
        return Predictions((p1 > 0.5).astype(np.int64), np.column_stack([1 - p1, p1]))

    better = model(0.8)
    return truth, better, model(3.0)


def paired_bootstrap(
    truth: np.ndarray,
    candidate: Predictions,
    baseline: Predictions,
    resamples: int = 200,
    seed: int = 0,
) -> BootstrapResult:
    """The overall slice of a binary ``candidate`` resampled with its ``baseline``."""
    return bootstrap_metrics(
        "classification",
        truth,
        candidate,
        {"overall": np.arange(len(truth))},
        baseline=baseline,
        num_classes=2,
        resamples=resamples,
        seed=seed,
    )
