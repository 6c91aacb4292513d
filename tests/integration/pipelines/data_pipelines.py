"""Pipelines around example_gen for end-to-end tests."""

from __future__ import annotations

import pyarrow.parquet as pq

from conveyor import Input, component, pipeline
from conveyor.components.data import example_gen, sql_example_gen
from conveyor.types import Examples


@component
def count_train(examples: Input[Examples]) -> int:
    """Rows of the train split, read back from its Parquet files."""
    return int(pq.read_table(examples.split_path("train")).num_rows)


@pipeline(name="ingest")
def ingest(input_pattern: str, presplit: bool = False):
    """example_gen -> count_train."""
    gen = example_gen(input_pattern=input_pattern, presplit=presplit)
    count_train(examples=gen.outputs["examples"])


@pipeline(name="ingest-skipping")
def ingest_skipping(input_pattern: str, skip_rows: int):
    """example_gen with a CSV option passed as a pipeline parameter."""
    example_gen(input_pattern=input_pattern, skip_rows=skip_rows)


@pipeline(name="ingest-sql")
def ingest_sql(url: str, query: str):
    """sql_example_gen -> count_train."""
    gen = sql_example_gen(url=url, query=query)
    count_train(examples=gen.outputs["examples"])
