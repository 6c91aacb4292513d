"""Serving skew: the short pipeline whose model the skew loop serves (see README.md).

Census-like data from ``bench/make_tabular.py``: examples, their statistics (the training
side of the skew check), an inferred schema, and a LightGBM model.

    python ../../bench/make_tabular.py --rows 5000 --out data/census.csv
    conveyor run pipeline.py
"""

from __future__ import annotations

from conveyor import pipeline
from conveyor.components.data import example_gen, schema_gen, statistics_gen
from conveyor.components.model import trainer


@pipeline(name="serving-skew")
def serving_skew(pattern: str = "data/census.csv"):
    """ExampleGen -> StatisticsGen -> SchemaGen -> Trainer."""
    examples = example_gen(input_pattern=pattern).outputs["examples"]
    stats = statistics_gen(examples=examples).outputs["statistics"]
    schema = schema_gen(statistics=stats, split="train").outputs["schema"]
    trainer(examples=examples, schema=schema, label="income_gt_50k", preset="lightgbm")
