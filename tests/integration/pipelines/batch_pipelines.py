"""The model stage followed by batch scoring of the eval split with ``bulk_inferrer``."""

from __future__ import annotations

from conveyor import pipeline
from conveyor.components.data import example_gen, schema_gen, statistics_gen
from conveyor.components.model import bulk_inferrer, trainer, transform


@pipeline(name="batch-scoring")
def batch_scoring(input_pattern: str, label: str, split: str = "eval"):
    """Ingest, transform, train, then score ``split`` of the raw examples."""
    examples = example_gen(input_pattern=input_pattern).outputs["examples"]
    stats = statistics_gen(examples=examples)
    schema = schema_gen(statistics=stats.outputs["statistics"]).outputs["schema"]
    tf = transform(examples=examples, schema=schema, label=label)
    train = trainer(
        examples=tf.outputs["transformed_examples"],
        schema=schema,
        transform_graph=tf.outputs["transform_graph"],
        label=label,
    )
    bulk_inferrer(model=train.outputs["model"], examples=examples, split=split)
