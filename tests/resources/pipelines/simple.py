"""The README demo shape: ingest -> split -> train -> evaluate, with three pipeline parameters."""

from __future__ import annotations

from conveyor import Dataset, Input, Metrics, Model, Output, component, pipeline


@component
def ingest(path: str, data: Output[Dataset]) -> int:
    """Read the raw rows; return how many there are."""
    data.write_text(path)
    return 1


@component
def split(
    data: Input[Dataset],
    train: Output[Dataset],
    eval: Output[Dataset],
    eval_fraction: float = 0.25,
) -> None:
    """Split rows into a train and an eval set."""
    train.write_text(data.read_text())
    eval.write_text(data.read_text())


@component(retries=2, timeout=60, cache_env=["SEED"])
def train(
    train: Input[Dataset], model: Output[Model], metrics: Output[Metrics], C: float = 1.0
) -> float:
    """Fit a model; return its training accuracy."""
    model.write_text(str(C))
    metrics.log_metric("train_accuracy", 1.0)
    return 1.0


@component
def evaluate(model: Input[Model], eval: Input[Dataset], metrics: Output[Metrics]) -> float:
    """Accuracy of the model on the eval split."""
    metrics.log_metric("eval_accuracy", 1.0)
    return 1.0


@pipeline(name="simple")
def simple(path: str = "data/rows.csv", C: float = 1, eval_fraction: float = 0.25) -> None:
    """Ingest, split, train and evaluate."""
    raw = ingest(path=path)
    parts = split(data=raw.outputs["data"], eval_fraction=eval_fraction)
    fit = train(train=parts.outputs["train"], C=C)
    evaluate(model=fit.outputs["model"], eval=parts.outputs["eval"])
