"""A pipeline that writes Examples by hand from a CSV, then runs StatisticsGen on them."""

from __future__ import annotations

import os

from conveyor import Output, component, pipeline
from conveyor.components.data.statistics_gen import statistics_gen
from conveyor.types import Examples


@component
def csv_examples(path: str, examples: Output[Examples], split_column: str = "") -> None:
    """Every row to 'train', except every third one to 'eval' (a stand-in for ExampleGen)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    table = pcsv.read_csv(path)
    index = pa.array(range(table.num_rows))
    is_eval = pc.equal(pc.subtract(index, pc.multiply(pc.divide(index, 3), 3)), 2)
    for split, mask in (("train", pc.invert(is_eval)), ("eval", is_eval)):
        os.makedirs(os.path.join(examples.path, split), exist_ok=True)
        pq.write_table(table.filter(mask), os.path.join(examples.path, split, "part-00000.parquet"))
    examples.metadata["split_names"] = ["train", "eval"]


@pipeline(name="stats")
def stats(path: str, slice_by: list = []):  # noqa: B006 - a pipeline parameter's default
    """csv_examples -> statistics_gen."""
    ex = csv_examples(path=path)
    statistics_gen(examples=ex.outputs["examples"], slice_by=slice_by)
