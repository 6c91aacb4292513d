"""SchemaGen and ImportSchemaGen: a data schema inferred from statistics, or a curated one."""

from __future__ import annotations

import json
import os
import shutil
from typing import TYPE_CHECKING

from conveyor.components.data.statistics_gen import STATISTICS_FILE
from conveyor.dsl import Input, Output, component
from conveyor.types import ExampleStatistics, Schema

if TYPE_CHECKING:
    from conveyor.data.model import StatisticsCollection

__all__ = ["import_schema_gen", "read_statistics", "schema_gen"]

SCHEMA_FILE = "schema.yaml"


def read_statistics(path: str) -> StatisticsCollection:
    """The statistics in an ``ExampleStatistics`` folder (or a ``statistics.json`` file).

    Example:
        >>> stats = read_statistics(statistics.path)  # doctest: +SKIP
    """
    from conveyor.data.model import StatisticsCollection

    file = os.path.join(path, STATISTICS_FILE) if os.path.isdir(path) else path
    with open(file, encoding="utf-8") as fh:
        return StatisticsCollection.from_dict(json.load(fh))


@component
def schema_gen(
    statistics: Input[ExampleStatistics],
    schema: Output[Schema],
    split: str = "train",
    infer_ranges: bool = False,
) -> None:
    """Infer a schema (types, presence, categorical domains) from one split's statistics.

    Curate the written ``schema.yaml`` and pin it with :func:`import_schema_gen`.

    Example:
        >>> stats = statistics_gen(examples=gen.outputs["examples"])  # doctest: +SKIP
        >>> schema_gen(statistics=stats.outputs["statistics"])  # doctest: +SKIP
    """
    from conveyor.data.schema import infer_schema, save_schema

    inferred = infer_schema(
        read_statistics(statistics.path), split=split, infer_ranges=infer_ranges
    )
    os.makedirs(schema.path, exist_ok=True)
    save_schema(inferred, os.path.join(schema.path, SCHEMA_FILE))
    schema.metadata["split"] = split
    schema.metadata["num_features"] = len(inferred.features)


@component(cache=False)
def import_schema_gen(schema_file: str, schema: Output[Schema]) -> None:
    """Bring a curated schema file (YAML, JSON, or a TFDV ``schema.pbtxt``) into the pipeline;
    runs on every run.

    The file is checked first, so a broken schema fails here, naming the file and the problem.
    A ``schema.pbtxt`` is converted to ``schema.yaml`` (what the data components read) and
    kept beside it as it was.

    Example:
        >>> import_schema_gen(schema_file="schema.yaml")  # doctest: +SKIP
    """
    from conveyor.data.schema import load_schema, save_schema
    from conveyor.data.tfx_schema import PBTXT_SUFFIXES

    curated = load_schema(schema_file)
    os.makedirs(schema.path, exist_ok=True)
    dest = os.path.join(schema.path, SCHEMA_FILE)
    if schema_file.endswith((".yaml", ".yml")):
        shutil.copyfile(schema_file, dest)  # keep the curator's comments
    else:
        save_schema(curated, dest)
    if schema_file.lower().endswith(PBTXT_SUFFIXES):
        shutil.copyfile(schema_file, os.path.join(schema.path, "schema.pbtxt"))
        schema.metadata["format"] = "tfdv-pbtxt"
    schema.metadata["source"] = schema_file
    schema.metadata["num_features"] = len(curated.features)
