"""StatisticsGen in a pipeline and alone: one data set per split (and slice), plus HTML."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conveyor.components.data.statistics_gen import statistics_gen
from conveyor.data.model import StatisticsCollection
from conveyor.testing import check_component

PENGUINS = Path(__file__).resolve().parents[1] / "data" / "penguins.csv"


def _read(uri: str) -> tuple[StatisticsCollection, str]:
    path = uri.removeprefix("file://")
    with open(os.path.join(path, "statistics.json"), encoding="utf-8") as fh:
        stats = StatisticsCollection.from_dict(json.load(fh))
    with open(os.path.join(path, "statistics.html"), encoding="utf-8") as fh:
        return stats, fh.read()


def test_statistics_gen_passes_the_component_checks(tmp_path: Path) -> None:
    examples = tmp_path / "examples"
    for split, rows in (("train", 6), ("eval", 3)):
        (examples / split).mkdir(parents=True)
        table = pa.table({"x": list(range(rows)), "sex": ["F", "M", "F"] * (rows // 3)})
        pq.write_table(table, examples / split / "part-00000.parquet")
    result = check_component(
        statistics_gen,
        parameters={"slice_by": ["sex"]},
        inputs={"examples": str(examples)},
        workdir=str(tmp_path / "work"),
    )
    stats, html = _read(result.outputs.artifacts["statistics"].uri)
    assert [(d.name, d.slice, d.num_rows) for d in stats.datasets] == [
        ("eval", None, 3),
        ("eval", "sex=F", 2),
        ("eval", "sex=M", 1),
        ("train", None, 6),
        ("train", "sex=F", 4),
        ("train", "sex=M", 2),
    ]
    assert "sex=F" in html


@pytest.mark.skipif(not PENGUINS.exists(), reason="shared datasets not present")
def test_statistics_gen_in_a_pipeline_writes_per_split_statistics(load, run_pipeline) -> None:
    result = run_pipeline(
        load("stats_pipelines").stats, {"path": str(PENGUINS), "slice_by": ["species"]}
    )
    artifact = result.outputs("statistics_gen").artifacts["statistics"]
    stats, html = _read(artifact.uri)
    train, eval_ = stats.split("train"), stats.split("eval")
    assert train is not None and eval_ is not None
    assert train.num_rows + eval_.num_rows == 344
    assert {d.slice for d in stats.datasets if d.name == "train"} == {
        None,
        "species=Adelie",
        "species=Chinstrap",
        "species=Gentoo",
    }
    for feature in ("bill_length_mm", "island", "sex"):
        assert feature in html
