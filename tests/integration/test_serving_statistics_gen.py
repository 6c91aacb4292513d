"""serving_statistics_gen: a server's logged inputs as serving statistics, cached on the log
files, so that example_validator reports training/serving skew in a pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from conveyor.components.data import serving_statistics_gen
from conveyor.data.model import (
    DataSchema,
    FeatureComparator,
    FeatureSchema,
    FeatureType,
    StatisticsCollection,
)
from conveyor.data.schema import save_schema
from conveyor.metadata import ExecutionState
from conveyor.serve.predlog import PredictionLog
from conveyor.testing import check_component

RNG = np.random.default_rng(5)


def _log(root: Path, ages: list[int]) -> None:
    log = PredictionLog(str(root), input_types={"age": "INT", "job": "STRING"})
    for start in range(0, len(ages), 100):
        part = ages[start : start + 100]
        log.record(model="toy", version="1", role="primary",
                   columns={"age": part, "job": ["clerk"] * len(part)},
                   outputs={"predictions": [0] * len(part)})  # fmt: skip
    log.close()


def _ages(n: int, shift: int = 0) -> list[int]:
    return (RNG.normal(40, 10, n).round() + shift).astype(int).tolist()


def test_the_component_checks_and_a_serving_data_set(tmp_path: Path) -> None:
    _log(tmp_path / "logs", _ages(250))
    result = check_component(
        serving_statistics_gen,
        parameters={"log_dir": str(tmp_path / "logs")},
        workdir=str(tmp_path / "work"),
    )
    assert result.outputs.parameters["Output"] == 250
    folder = Path(result.outputs.artifacts["statistics"].uri.removeprefix("file://"))
    stats = StatisticsCollection.from_dict(json.loads((folder / "statistics.json").read_text()))
    assert [(d.name, d.num_rows) for d in stats.datasets] == [("serving", 250)]
    assert (folder / "statistics.html").exists()


def test_skew_in_a_pipeline_and_a_new_log_file_reruns_the_step(
    tmp_path: Path, load, run_pipeline
) -> None:
    train = tmp_path / "train.parquet"
    ages = _ages(2000)
    pq.write_table(pa.table({"age": ages, "job": ["clerk"] * len(ages)}), train)
    schema = tmp_path / "schema.yaml"
    save_schema(DataSchema([
        FeatureSchema("age", FeatureType.INT,
                      skew_comparator=FeatureComparator(jensen_shannon_divergence=0.1)),
        FeatureSchema("job", FeatureType.STRING, values=["clerk", "nurse"],
                      skew_comparator=FeatureComparator(infinity_norm=0.1)),
    ]), schema)  # fmt: skip
    logs = tmp_path / "logs"
    _log(logs, _ages(500))
    pipe = load("serving_skew_pipelines").serving_skew
    params = {"input_pattern": str(train), "schema_file": str(schema), "log_dir": str(logs)}

    first = run_pipeline(pipe, params)
    assert first.ok, first.failed_tasks
    assert first.outputs("example_validator").parameters["Output"] == 0  # no skew

    again = run_pipeline(pipe, params)
    assert again.tasks["serving_statistics_gen"].state == ExecutionState.CACHED

    _log(logs, _ages(500, shift=25))  # a new file: shifted traffic
    shifted = run_pipeline(pipe, params)
    assert shifted.tasks["serving_statistics_gen"].state == ExecutionState.COMPLETE
    assert shifted.outputs("serving_statistics_gen").parameters["Output"] == 1000
    anomalies_uri = shifted.outputs("example_validator").artifacts["anomalies"].uri
    report = json.loads(
        (Path(anomalies_uri.removeprefix("file://")) / "anomalies.json").read_text()
    )
    assert {k: [r["type"] for r in v["reasons"]] for k, v in report["anomaly_info"].items()} == {
        "age": ["COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"]
    }
