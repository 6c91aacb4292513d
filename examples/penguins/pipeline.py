"""Penguins: the Data and Model stages on the real Palmer penguins data.

conveyor run pipeline.py                          # ingest -> ... -> train (XGBoost)
conveyor run pipeline.py --param preset=lightgbm  # another model family
conveyor show ID                                  # statistics, schema, anomalies...
"""

from __future__ import annotations

from conveyor import pipeline
from conveyor.components.data import example_gen, example_validator, schema_gen, statistics_gen
from conveyor.components.model import trainer, transform


@pipeline(name="penguins")
def penguins(path: str = "data/penguins.csv", preset: str = "xgboost"):
    """Classify penguin species: ingest, describe, check, transform, train."""
    examples = example_gen(input_pattern=path).outputs["examples"]
    stats = statistics_gen(examples=examples, slice_by=["island"]).outputs["statistics"]
    schema = schema_gen(statistics=stats, split="train").outputs["schema"]
    example_validator(statistics=stats, schema=schema, split="eval")
    tf = transform(examples=examples, schema=schema, label="species")
    trainer(
        examples=tf.outputs["transformed_examples"],
        schema=schema,
        transform_graph=tf.outputs["transform_graph"],
        label="species",
        preset=preset,
    )
