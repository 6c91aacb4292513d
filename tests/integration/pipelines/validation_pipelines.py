"""Pipelines of SchemaGen, ImportSchemaGen and ExampleValidator over statistics files."""

from __future__ import annotations

import os
import shutil

from conveyor import Input, Output, component, pipeline
from conveyor.components.data.example_validator import example_validator
from conveyor.components.data.schema_gen import import_schema_gen, schema_gen
from conveyor.types import ExampleAnomalies, ExampleStatistics


@component(cache=False)
def load_statistics(path: str, statistics: Output[ExampleStatistics]) -> None:
    """Stand-in for StatisticsGen: a statistics.json file as an ExampleStatistics artifact."""
    os.makedirs(statistics.path)
    shutil.copyfile(path, os.path.join(statistics.path, "statistics.json"))


@component
def read_anomalies(anomalies: Input[ExampleAnomalies]) -> str:
    """The anomalies file, to check it downstream."""
    with open(os.path.join(anomalies.path, "anomalies.json")) as fh:
        return fh.read()


@pipeline(name="infer-and-validate")
def infer_and_validate(train: str, eval: str, fail: bool = False):
    """Infer a schema from train, validate eval against it (and against train for drift)."""
    train_stats = load_statistics(path=train).outputs["statistics"]
    eval_stats = load_statistics(path=eval).outputs["statistics"]
    schema = schema_gen(statistics=train_stats, split="train").outputs["schema"]
    checked = example_validator(
        statistics=eval_stats,
        schema=schema,
        baseline_statistics=train_stats,
        split="eval",
        fail_on_anomalies=fail,
    )
    read_anomalies(anomalies=checked.outputs["anomalies"])


@pipeline(name="curated")
def curated(schema_file: str, serving: str, environment: str = "SERVING"):
    """Validate serving statistics against a curated schema."""
    schema = import_schema_gen(schema_file=schema_file).outputs["schema"]
    example_validator(
        statistics=load_statistics(path=serving).outputs["statistics"],
        schema=schema,
        split="serving",
        environment=environment,
    )
