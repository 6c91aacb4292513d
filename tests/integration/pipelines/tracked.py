"""A step that logs a training curve with conveyor.log_metric."""

from __future__ import annotations

import conveyor
from conveyor import component, pipeline


@component
def fit(epochs: int = 5) -> float:
    """Log a decreasing loss per epoch; return the last one."""
    loss = 1.0
    for epoch in range(epochs):
        loss = 1.0 / (epoch + 1)
        conveyor.log_metric("loss", loss, step=epoch)
    conveyor.log_metrics({"accuracy": 0.9, "auc": 0.8})
    return loss


@pipeline(name="tracked")
def tracked(epochs: int = 5):
    """One step with a curve."""
    fit(epochs=epochs)
