"""ExampleValidator: anomalies of new data against a schema, drift versus a baseline and
training-serving skew, written as an ``ExampleAnomalies`` artifact."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from conveyor.components.data.schema_gen import read_statistics
from conveyor.dsl import Input, Output, component
from conveyor.types import ExampleAnomalies, ExampleStatistics, Schema

if TYPE_CHECKING:
    from conveyor.data.model import Anomalies

__all__ = ["AnomaliesFoundError", "example_validator"]

ANOMALIES_FILE = "anomalies.json"


class AnomaliesFoundError(Exception):
    """The data failed validation (``fail_on_anomalies=True``).

    Raised inside the step, so the run records it as the ``__cause__`` of the step's
    ``ComponentError`` like any failure of a component's code. ``anomalies`` is the report.
    """

    def __init__(self, message: str, anomalies: Anomalies):
        self.anomalies = anomalies
        super().__init__(message)


@component
def example_validator(
    statistics: Input[ExampleStatistics],
    schema: Input[Schema],
    anomalies: Output[ExampleAnomalies],
    baseline_statistics: Input[ExampleStatistics] | None = None,
    serving_statistics: Input[ExampleStatistics] | None = None,
    split: str = "eval",
    environment: str | None = None,
    fail_on_anomalies: bool = False,
) -> int:
    """Validate one split's statistics against the schema; returns the anomalous features.

    With ``baseline_statistics`` (the previous span) it checks drift and the row-count
    change; with ``serving_statistics`` training-serving skew, using the thresholds in the
    schema. With ``fail_on_anomalies`` the step fails, listing them; otherwise it only warns
    (prints them and records them in the artifact and its metadata).

    Raises:
        AnomaliesFoundError: with ``fail_on_anomalies``, when anything is anomalous.

    Example:
        >>> example_validator(statistics=stats.outputs["statistics"],
        ...                   schema=imported.outputs["schema"])  # doctest: +SKIP
    """
    from conveyor.data.schema import load_schema, select_split
    from conveyor.data.validate import anomalies_to_text, anomaly_count, validate_statistics

    stats = select_split(read_statistics(statistics.path), split)
    previous = (
        select_split(read_statistics(baseline_statistics.path), split)
        if baseline_statistics
        else None
    )
    serving = (
        select_split(read_statistics(serving_statistics.path), split)
        if serving_statistics
        else None
    )
    found = validate_statistics(
        stats,
        load_schema(schema.path),
        environment=environment,
        previous=previous,
        serving=serving,
    )
    os.makedirs(anomalies.path, exist_ok=True)
    with open(os.path.join(anomalies.path, ANOMALIES_FILE), "w", encoding="utf-8") as fh:
        json.dump(found.to_dict(), fh, indent=2)
    count = anomaly_count(found)
    anomalies.metadata["split"] = stats.name
    anomalies.metadata["num_anomalies"] = count
    anomalies.metadata["anomalous_features"] = sorted(found.anomaly_info)
    anomalies.metadata["blessed"] = int(found.ok)
    report = anomalies_to_text(found)
    print(report)
    if count and fail_on_anomalies:
        raise AnomaliesFoundError(
            f"{report}\nThe data failed validation (fail_on_anomalies=True). Fix the data, or "
            "curate the schema if the change is expected, or set fail_on_anomalies=False to "
            "only warn.",
            found,
        )
    return count
