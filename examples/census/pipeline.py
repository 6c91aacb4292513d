"""Census income: the canonical TFX-style pipeline on census-like data.

The data is generated (deterministically) by ``bench/make_tabular.py``; ``make run`` writes
``data/census.csv`` first. Spans: put new drops in ``data/span-N/`` and pass
``--param pattern='data/span-{SPAN}/*.csv'`` to always train on the latest one.

    python ../../bench/make_tabular.py --rows 20000 --out data/census.csv
    conveyor run pipeline.py
"""

from __future__ import annotations

from conveyor import pipeline
from conveyor.components.data import example_gen, example_validator, schema_gen, statistics_gen
from conveyor.components.model import trainer, transform


@pipeline(name="census")
def census(pattern: str = "data/census.csv", preset: str = "lightgbm"):
    """ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform -> Trainer."""
    examples = example_gen(input_pattern=pattern).outputs["examples"]
    stats = statistics_gen(examples=examples, slice_by=["sex", "race"]).outputs["statistics"]
    schema = schema_gen(statistics=stats, split="train").outputs["schema"]
    example_validator(statistics=stats, schema=schema, split="eval")
    tf = transform(examples=examples, schema=schema, label="income_gt_50k")
    trainer(
        examples=tf.outputs["transformed_examples"],
        schema=schema,
        transform_graph=tf.outputs["transform_graph"],
        label="income_gt_50k",
        preset=preset,
    )
