"""The whole Data stage: ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator."""

from __future__ import annotations

from conveyor import pipeline
from conveyor.components.data import example_gen, example_validator, schema_gen, statistics_gen


@pipeline(name="data-stage")
def data_stage(input_pattern: str):
    """Ingest, describe, infer a schema from train, validate eval against it."""
    examples = example_gen(input_pattern=input_pattern)
    stats = statistics_gen(examples=examples.outputs["examples"], slice_by=["sex"])
    schema = schema_gen(statistics=stats.outputs["statistics"], split="train")
    example_validator(
        statistics=stats.outputs["statistics"], schema=schema.outputs["schema"], split="eval"
    )
