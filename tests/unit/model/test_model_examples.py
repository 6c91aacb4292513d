"""Example rows kept with a saved model: the first training rows a server would accept."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pytest
from toy_models import CLASSES, SCHEMA, toy_table

from conveyor.errors import ArtifactError
from conveyor.model.examples import EXAMPLES_FILE, example_rows, read_examples
from conveyor.model.presets import create_estimator
from conveyor.model.saved import load_model, save_model
from conveyor.model.transform import fit_transform
from conveyor.serve.info import model_info

TABLE = toy_table(100)


def _save(path: str, examples: object = None) -> None:
    fitted = fit_transform(TABLE, SCHEMA, "y")
    estimator, _ = create_estimator("sklearn:LogisticRegression", "classification", {})
    estimator.fit(fitted.matrix(TABLE), np.searchsorted(CLASSES, TABLE.column("y").to_pylist()))
    save_model(path, estimator, fitted, task="classification", label="y", classes=CLASSES,
               schema=SCHEMA, examples=examples)  # fmt: skip


def test_save_model_keeps_the_first_five_training_rows_without_the_label(tmp_path):
    path = str(tmp_path / "m")
    _save(path, examples=TABLE)
    rows = read_examples(path)
    expected = [{"x": r["x"], "c": r["c"]} for r in TABLE.slice(0, 5).to_pylist()]
    assert rows == expected
    # the rows are what the model predicts on
    assert len(load_model(path).predict(rows)) == 5


def test_rows_a_server_would_refuse_are_skipped_and_nan_is_a_missing_value():
    inputs = [
        {"name": "x", "type": "FLOAT"},
        {"name": "n", "type": "INT"},
        {"name": "c", "type": "STRING", "values": ["a", "b"]},
        {"name": "ok", "type": "BOOL"},
    ]
    table = pa.table(
        {
            "x": [1.5, math.nan, 2.0, 3.0, 4.0],
            "n": [1, 2, 3, None, 5],
            "c": ["a", "b", "z", "a", "b"],  # "z" is outside the domain: that row is left out
            "ok": [True, False, True, None, True],
            "label": [0, 1, 0, 1, 0],
        }
    )
    assert example_rows(table, inputs, limit=3) == [
        {"x": 1.5, "n": 1, "c": "a", "ok": True},
        {"x": None, "n": 2, "c": "b", "ok": False},
        {"x": 3.0, "n": None, "c": "a", "ok": None},
    ]
    assert example_rows({"x": [1.0]}, inputs) == []  # inputs missing: no examples


def test_a_model_saved_without_examples_has_none_and_keeps_working(tmp_path):
    path = str(tmp_path / "m")
    _save(path)
    assert not (tmp_path / "m" / EXAMPLES_FILE).exists()
    assert read_examples(path) is None
    info = model_info(path, "m", None)
    assert info["examples"] is None and info["task"] == "classification"
    assert info["signature"]["inputs"][0] == {"name": "x", "type": "FLOAT"}


def test_a_damaged_examples_file_is_an_artifact_error_and_the_info_says_why(tmp_path):
    path = str(tmp_path / "m")
    _save(path, examples=TABLE)
    (tmp_path / "m" / EXAMPLES_FILE).write_text(json.dumps({"rows": [1, 2]}))
    with pytest.raises(ArtifactError, match="not a JSON object"):
        read_examples(path)
    info = model_info(path, "m", "3")
    assert info["examples"] is None and "not a JSON object" in info["examples_error"]
