"""The UI benchmark's template runs: a 20-step training-like chain with ten parameters whose
last step logs metrics with ``conveyor.log_metric``, and a 100-step chain. ``bench/_ui_data.py``
runs each once for real and copies the rows they wrote (same shapes) to fill a large store."""

from __future__ import annotations

import json

import conveyor
from conveyor import Artifact, Input, Output, component, pipeline


@component
def begin(seed: int, out: Output[Artifact]) -> None:
    """The first value."""
    with open(out.path, "w") as fh:
        json.dump({"n": seed}, fh)


@component
def step(x: Input[Artifact], out: Output[Artifact]) -> None:
    """Add one."""
    with open(x.path) as fh:
        n = json.load(fh)["n"]
    with open(out.path, "w") as fh:
        json.dump({"n": n + 1}, fh)


@component
def score(x: Input[Artifact], lr: float, epochs: int) -> float:
    """Log a loss curve and final metrics, as a training step would."""
    with open(x.path) as fh:
        n = json.load(fh)["n"]
    loss = 1.0
    for epoch in range(epochs):
        loss = 1.0 / (epoch + 1 + lr)
        conveyor.log_metric("loss", loss, step=epoch)
    conveyor.log_metrics({"accuracy": 0.9, "auc": 0.8 + n * 1e-4})
    return loss


@pipeline(name="ui_train20")
def ui_train20(
    lr: float = 0.1,
    epochs: int = 3,
    depth: int = 6,
    optimizer: str = "adam",
    batch_size: int = 64,
    dropout: float = 0.2,
    seed: int = 0,
    l2: float = 0.001,
    warmup: int = 10,
    scheduler: str = "cosine",
) -> None:
    """begin + 18 steps + score: 20 steps in a line, ten parameters."""
    del depth, optimizer, batch_size, dropout, l2, warmup, scheduler  # recorded, not used
    t = begin(seed=seed)
    for _ in range(18):
        t = step(x=t.outputs["out"])
    score(x=t.outputs["out"], lr=lr, epochs=epochs)


@pipeline(name="ui_chain100")
def ui_chain100(seed: int = 0) -> None:
    """begin + 99 steps in a line."""
    t = begin(seed=seed)
    for _ in range(99):
        t = step(x=t.outputs["out"])
