"""SchemaGen, ImportSchemaGen and ExampleValidator in pipelines on the local orchestrator."""

from __future__ import annotations

import json

import pytest

from conveyor.components.data.example_validator import example_validator
from conveyor.components.data.schema_gen import import_schema_gen, schema_gen
from conveyor.data.model import (
    DataSchema,
    DatasetStatistics,
    FeatureSchema,
    FeatureStatistics,
    FeatureType,
    NumericStatistics,
    StatisticsCollection,
    StringStatistics,
    ValueCount,
)
from conveyor.data.schema import save_schema
from conveyor.testing import check_component


def _dataset(split: str, sexes: dict[str, int], rows: int = 100) -> DatasetStatistics:
    top = [ValueCount(k, v) for k, v in sexes.items()]
    return DatasetStatistics(
        split,
        rows,
        [
            FeatureStatistics("age", FeatureType.INT, rows, 0, numeric=NumericStatistics(17, 90)),
            FeatureStatistics(
                "sex", FeatureType.STRING, sum(sexes.values()), rows - sum(sexes.values()),
                string=StringStatistics(len(sexes), top),
            ),
            FeatureStatistics("label", FeatureType.INT, rows, 0, numeric=NumericStatistics(0, 1)),
        ],
    )  # fmt: skip


def _write(tmp_path, name: str, *datasets: DatasetStatistics) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(StatisticsCollection(list(datasets)).to_dict()))
    return str(path)


def test_components_pass_the_conformance_checks(tmp_path):
    stats = _write(tmp_path, "s.json", _dataset("train", {"M": 60, "F": 40}))
    check_component(schema_gen, inputs={"statistics": stats})
    schema = tmp_path / "schema.yaml"
    save_schema(DataSchema([FeatureSchema("age", FeatureType.INT)]), schema)
    check_component(import_schema_gen, parameters={"schema_file": str(schema)})
    result = check_component(
        example_validator,
        parameters={"split": "train"},
        inputs={"statistics": stats, "schema": str(schema)},
    )
    assert result.outputs.parameters["Output"] == 2  # sex and label are new columns


def test_clean_eval_passes_and_a_new_category_is_found(load, run_pipeline, tmp_path):
    pipe = load("validation_pipelines").infer_and_validate
    train = _write(tmp_path, "train.json", _dataset("train", {"M": 60, "F": 40}))
    clean = _write(tmp_path, "clean.json", _dataset("eval", {"M": 55, "F": 45}))
    result = run_pipeline(pipe, {"train": train, "eval": clean})
    assert result.outputs("example_validator").parameters == {"Output": 0}
    assert json.loads(result.outputs("read_anomalies").parameters["Output"])["anomaly_info"] == {}

    bad = _write(tmp_path, "bad.json", _dataset("eval", {"M": 50, "F": 40, "X": 10}))
    result = run_pipeline(pipe, {"train": train, "eval": bad})
    assert result.outputs("example_validator").parameters == {"Output": 1}
    found = json.loads(result.outputs("read_anomalies").parameters["Output"])
    assert found["anomaly_info"]["sex"]["reasons"][0]["type"] == (
        "ENUM_TYPE_UNEXPECTED_STRING_VALUES"
    )


@pytest.mark.parametrize("mode_kw", [{"in_process": True}, {}])
def test_fail_on_anomalies_fails_the_run_listing_them(load, run_pipeline, tmp_path, mode_kw):
    pipe = load("validation_pipelines").infer_and_validate
    train = _write(tmp_path, "train.json", _dataset("train", {"M": 60, "F": 40}))
    bad = _write(tmp_path, "bad.json", _dataset("eval", {"M": 50, "F": 40, "X": 10}))
    result = run_pipeline(pipe, {"train": train, "eval": bad, "fail": True}, **mode_kw)
    assert result.failed_tasks == ["example_validator"]
    error = result.tasks["example_validator"].error or ""
    assert "ENUM_TYPE_UNEXPECTED_STRING_VALUES" in error and "fail_on_anomalies" in error


def test_a_curated_schema_with_environments(load, run_pipeline, tmp_path):
    schema = tmp_path / "schema.yaml"
    save_schema(
        DataSchema(
            [
                FeatureSchema("age", FeatureType.INT),
                FeatureSchema("sex", FeatureType.STRING, 0.5, values=["F", "M"]),
                FeatureSchema("label", FeatureType.INT, not_in_environments=["SERVING"]),
            ]
        ),
        schema,
    )
    serving = _dataset("serving", {"M": 60, "F": 40})
    serving.features = [f for f in serving.features if f.name != "label"]
    path = _write(tmp_path, "serving.json", serving)
    pipe = load("validation_pipelines").curated
    ok = run_pipeline(pipe, {"schema_file": str(schema), "serving": path})
    assert ok.outputs("example_validator").parameters == {"Output": 0}
    training = run_pipeline(
        pipe, {"schema_file": str(schema), "serving": path, "environment": "TRAINING"}
    )
    assert training.outputs("example_validator").parameters == {"Output": 1}

    schema.write_text("features: [{name: age, type: NUMBER}]\n")
    broken = run_pipeline(pipe, {"schema_file": str(schema), "serving": path}, in_process=True)
    assert broken.failed_tasks == ["import_schema_gen"]
    assert "type 'NUMBER'" in (broken.tasks["import_schema_gen"].error or "")


def test_import_schema_gen_takes_a_tfdv_schema_pbtxt(tmp_path):
    pytest.importorskip("tensorflow_metadata")
    from pathlib import Path

    from conveyor.data.schema import load_schema

    pbtxt = Path(__file__).resolve().parents[1] / "data" / "census_schema.pbtxt"
    result = check_component(
        import_schema_gen, parameters={"schema_file": str(pbtxt)}, workdir=str(tmp_path)
    )
    artifact = result.outputs.artifacts["schema"]
    assert artifact.properties["num_features"] == 15
    assert artifact.properties["format"] == "tfdv-pbtxt"
    folder = next(p.parent for p in (tmp_path / "artifacts").rglob("schema.yaml"))
    assert (folder / "schema.pbtxt").read_text() == pbtxt.read_text()
    assert load_schema(folder) == load_schema(pbtxt)  # the YAML the data components read
