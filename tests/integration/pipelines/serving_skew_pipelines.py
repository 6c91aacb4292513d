"""Training statistics against the statistics of a server's prediction logs."""

from __future__ import annotations

from conveyor import pipeline
from conveyor.components.data import (
    example_gen,
    example_validator,
    import_schema_gen,
    serving_statistics_gen,
    statistics_gen,
)


@pipeline(name="serving-skew")
def serving_skew(input_pattern: str, schema_file: str, log_dir: str, since: str | None = None):
    """Examples -> training statistics; logs -> serving statistics; skew by the schema."""
    examples = example_gen(input_pattern=input_pattern, split_ratios={"train": 1.0})
    stats = statistics_gen(examples=examples.outputs["examples"])
    schema = import_schema_gen(schema_file=schema_file)
    serving = serving_statistics_gen(log_dir=log_dir, since=since)
    example_validator(
        statistics=stats.outputs["statistics"],
        schema=schema.outputs["schema"],
        serving_statistics=serving.outputs["statistics"],
        split="train",
    )
