"""Data-stage components: ingestion (ExampleGen), statistics (of examples and of serving
logs), schema, validation."""

from conveyor.components.data.example_gen import example_gen, sql_example_gen
from conveyor.components.data.example_validator import example_validator
from conveyor.components.data.schema_gen import import_schema_gen, schema_gen
from conveyor.components.data.serving_statistics_gen import serving_statistics_gen
from conveyor.components.data.statistics_gen import statistics_gen

__all__ = [
    "example_gen",
    "example_validator",
    "import_schema_gen",
    "schema_gen",
    "serving_statistics_gen",
    "sql_example_gen",
    "statistics_gen",
]
