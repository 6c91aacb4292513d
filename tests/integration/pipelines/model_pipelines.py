"""ExampleGen -> StatisticsGen -> SchemaGen -> Transform -> Trainer, and run_fn fixtures."""

from __future__ import annotations

from typing import Any

import numpy as np

from conveyor import pipeline
from conveyor.components.data import example_gen, schema_gen, statistics_gen
from conveyor.components.model import trainer, transform


@pipeline(name="model-stage")
def model_stage(
    input_pattern: str,
    label: str,
    preset: str = "sklearn:LogisticRegression",
    hyperparameters: dict[str, Any] | None = None,
    run_fn: str | None = None,
    keep_example_rows: bool = True,
):
    """Ingest, describe, infer a schema, transform (fit on train), train and evaluate."""
    examples = example_gen(input_pattern=input_pattern).outputs["examples"]
    stats = statistics_gen(examples=examples)
    schema = schema_gen(statistics=stats.outputs["statistics"]).outputs["schema"]
    tf = transform(examples=examples, schema=schema, label=label)
    trainer(
        examples=tf.outputs["transformed_examples"],
        schema=schema,
        transform_graph=tf.outputs["transform_graph"],
        label=label,
        preset=preset,
        hyperparameters=hyperparameters,
        run_fn=run_fn,
        keep_example_rows=keep_example_rows,
    )


class Diverging:
    """A 'model' whose loss explodes."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.zeros(len(x))


def nan_loss_run_fn(ctx: Any) -> Any:
    """Logs a finite loss, then NaN."""
    ctx.log_metric("loss", 0.7, step=0)
    ctx.log_metric("loss", float("nan"), step=1)
    return Diverging()


def custom_run_fn(ctx: Any) -> Any:
    """A user training loop with a logged curve."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=200, **ctx.hyperparameters)
    for step in range(3):
        ctx.log_metric("loss", 1.0 / (step + 1), step=step)
    return clf.fit(ctx.x_train, ctx.y_train)
