"""StatisticsGen: per-split (and per-slice) statistics of an Examples artifact."""

from __future__ import annotations

import json
import os

from conveyor.dsl import Input, Output, component
from conveyor.types import Examples, ExampleStatistics

__all__ = ["statistics_gen"]

STATISTICS_FILE = "statistics.json"
HTML_FILE = "statistics.html"


@component
def statistics_gen(
    examples: Input[Examples],
    statistics: Output[ExampleStatistics],
    slice_by: list[str] | None = None,
    weight_column: str | None = None,
) -> None:
    """Compute the statistics of every split of ``examples`` (mergeable, chunked).

    Writes ``statistics.json`` (a ``StatisticsCollection``: one data set per split, then per
    slice, e.g. ``slice='sex=Female'``) and a self-contained ``statistics.html`` view.

    Args:
        examples: the examples; every split folder is read.
        statistics: where the statistics go.
        slice_by: columns whose every value also gets its own statistics (fairness reviews).
        weight_column: a numeric column of example weights (adds weighted counts).

    Example:
        >>> gen = example_gen(input_path="data/*.csv")  # doctest: +SKIP
        >>> statistics_gen(examples=gen.outputs["examples"], slice_by=["sex"])  # doctest: +SKIP
    """
    from conveyor.data.render import statistics_html
    from conveyor.data.stats import statistics_of_examples  # Arrow: only when the step runs

    splits = examples.split_names
    stats = statistics_of_examples(
        examples.path,
        splits=splits or None,
        slice_by=slice_by or (),
        weight_column=weight_column,
    )
    os.makedirs(statistics.path, exist_ok=True)
    with open(os.path.join(statistics.path, STATISTICS_FILE), "w", encoding="utf-8") as fh:
        json.dump(stats.to_dict(), fh)
    with open(os.path.join(statistics.path, HTML_FILE), "w", encoding="utf-8") as fh:
        fh.write(statistics_html(stats, title="Example statistics"))
    whole = [d for d in stats.datasets if d.slice is None]
    statistics.metadata["split_names"] = [d.name for d in whole]
    statistics.metadata["num_rows"] = {d.name: d.num_rows for d in whole}
    statistics.metadata["slices"] = [d.slice for d in stats.datasets if d.slice is not None]
