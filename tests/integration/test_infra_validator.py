"""The InfraValidator in a pipeline: a trained model is blessed, a broken one recorded as not."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pytest

from conveyor import pipeline
from conveyor.components import import_model
from conveyor.components.data import example_gen, schema_gen, statistics_gen
from conveyor.components.model import trainer
from conveyor.components.model.infra_validator import infra_validator
from conveyor.data.model import DataSchema, FeatureSchema, FeatureType
from conveyor.metadata import ExecutionState
from conveyor.model.saved import save_model
from conveyor.model.transform import fit_transform
from conveyor.testing import check_component

PENGUINS = os.path.join(os.path.dirname(__file__), "..", "data", "penguins.csv")


@pipeline(name="infra-validation")
def train_and_validate(input_pattern: str, broken_model: str):
    """Train on penguins and infra-validate the model, and an imported broken one."""
    examples = example_gen(input_pattern=input_pattern).outputs["examples"]
    stats = statistics_gen(examples=examples)
    schema = schema_gen(statistics=stats.outputs["statistics"]).outputs["schema"]
    trained = trainer(examples=examples, schema=schema, label="species")
    infra_validator(model=trained.outputs["model"], examples=examples, num_requests=20)
    broken = import_model(path=broken_model)
    infra_validator(model=broken.outputs["model"], examples=examples, num_requests=20)


def _path(ref) -> str:
    return ref.uri[len("file://") :] if ref.uri.startswith("file://") else ref.uri


def _broken_model(folder: Path) -> str:
    """A model folder with a valid manifest and transform, but a truncated estimator file."""
    table = pa.table({"bill_length_mm": [39.1, 46.5], "species": ["Adelie", "Gentoo"]})
    schema = DataSchema(
        [
            FeatureSchema("bill_length_mm", FeatureType.FLOAT),
            FeatureSchema("species", FeatureType.STRING),
        ]
    )
    path = folder / "broken"
    save_model(
        str(path),
        {"weights": [0.5]},
        fit_transform(table, schema, "species"),
        task="classification",
        label="species",
        classes=["Adelie", "Gentoo"],
    )
    (path / "model.pkl").write_bytes((path / "model.pkl").read_bytes()[:20])
    return str(path)


def test_a_trained_model_is_blessed_and_a_broken_one_is_recorded_as_not(run_pipeline, tmp_path):
    params = {"input_pattern": PENGUINS, "broken_model": _broken_model(tmp_path)}
    result = run_pipeline(train_and_validate, params, in_process=True)  # the probe is fresh anyway
    assert result.failed_tasks == [], {k: t.error for k, t in result.tasks.items() if t.error}

    good = result.outputs("infra_validator")
    assert good.parameters["Output"] is True
    ref = good.artifacts["blessing"]
    assert ref.properties["blessed"] is True and ref.properties["reason"] == "BLESSED"
    assert 0 < ref.properties["latency_ms_p50"] <= ref.properties["latency_ms_p99"]
    assert ref.properties["load_seconds"] > 0 and ref.properties["peak_rss_mb"] > 0
    with open(os.path.join(_path(ref), "infra_validation.json")) as fh:
        document = json.load(fh)
    assert document["num_requests"] == 20 and document["model"]["framework"] == "sklearn"
    assert set(document["predictions"]) <= {"Adelie", "Chinstrap", "Gentoo"}
    assert document["warnings"] == []

    bad_task = result.tasks["infra_validator-2"]
    assert bad_task.state == ExecutionState.COMPLETE  # the decision is recorded, not raised
    assert bad_task.outputs.parameters["Output"] is False
    bad = bad_task.outputs.artifacts["blessing"]
    assert bad.properties["blessed"] is False and bad.properties["reason"] == "LOAD_FAILED"
    assert bad.properties["latency_ms_p99"] is None
    with open(os.path.join(_path(bad), "infra_validation.json")) as fh:
        document = json.load(fh)
    assert "Cannot read the estimator" in document["message"]


@pytest.fixture
def rejected_blessing(tmp_path: Path) -> str:
    folder = tmp_path / "model_blessing"
    folder.mkdir()
    document = {"blessed": False, "reason": "NOT_BLESSED_THRESHOLDS"}
    (folder / "blessing.json").write_text(json.dumps(document))
    return str(folder)


def test_a_model_the_evaluator_did_not_bless_is_not_probed(tmp_path, rejected_blessing):
    (tmp_path / "model").mkdir()
    (tmp_path / "examples").mkdir()
    result = check_component(
        infra_validator,
        inputs={
            "model": str(tmp_path / "model"),
            "examples": str(tmp_path / "examples"),
            "model_blessing": rejected_blessing,
        },
    )
    assert result.outputs.parameters["Output"] is False
    properties = result.outputs.artifacts["blessing"].properties
    assert properties["blessed"] is False and properties["reason"] == "MODEL_NOT_BLESSED"
    assert properties["load_seconds"] is None
