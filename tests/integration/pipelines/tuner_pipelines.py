"""ExampleGen -> StatisticsGen -> SchemaGen -> Transform -> Tuner (-> Trainer)."""

from __future__ import annotations

from typing import Any

from conveyor import pipeline
from conveyor.components.data import example_gen, schema_gen, statistics_gen
from conveyor.components.model import transform
from conveyor.components.model.tuner import tuner


@pipeline(name="tuner-stage")
def tuner_stage(
    input_pattern: str,
    label: str,
    search_space: dict[str, Any],
    sampler: str = "tpe",
    n_trials: int = 6,
    seed: int = 0,
):
    """Ingest, describe, infer a schema, transform (fit on train), then search."""
    examples = example_gen(input_pattern=input_pattern).outputs["examples"]
    stats = statistics_gen(examples=examples)
    schema = schema_gen(statistics=stats.outputs["statistics"]).outputs["schema"]
    tf = transform(examples=examples, schema=schema, label=label)
    tuner(
        examples=tf.outputs["transformed_examples"],
        schema=schema,
        transform_graph=tf.outputs["transform_graph"],
        label=label,
        search_space=search_space,
        sampler=sampler,
        n_trials=n_trials,
        n_jobs=2,
        seed=seed,
    )


@pipeline(name="tuner-trainer")
def tuner_then_trainer(input_pattern: str, label: str, search_space: dict[str, Any]):
    """The tuner's best configuration, trained by the Trainer (needs its
    ``hyperparameters_artifact`` input)."""
    from conveyor.components.model import trainer

    examples = example_gen(input_pattern=input_pattern).outputs["examples"]
    stats = statistics_gen(examples=examples)
    schema = schema_gen(statistics=stats.outputs["statistics"]).outputs["schema"]
    tf = transform(examples=examples, schema=schema, label=label)
    tuned = tuner(
        examples=tf.outputs["transformed_examples"],
        schema=schema,
        transform_graph=tf.outputs["transform_graph"],
        label=label,
        search_space=search_space,
        n_trials=4,
        n_jobs=2,
    )
    trainer(
        examples=tf.outputs["transformed_examples"],
        schema=schema,
        transform_graph=tf.outputs["transform_graph"],
        label=label,
        hyperparameters_artifact=tuned.outputs["best_hyperparameters"],
    )
