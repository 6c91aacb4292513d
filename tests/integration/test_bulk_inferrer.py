"""The bulk_inferrer component: the loaded model's predictions on a split, cached on rerun."""

from __future__ import annotations

import os

import numpy as np
import pyarrow.parquet as pq

import conveyor.model as cm
from conveyor.components.model import bulk_inferrer
from conveyor.metadata import ExecutionState
from conveyor.testing import check_component

PENGUINS = os.path.join(os.path.dirname(__file__), "..", "data", "penguins.csv")


def _path(ref) -> str:
    return ref.uri[len("file://") :] if ref.uri.startswith("file://") else ref.uri


def test_bulk_inferrer_scores_the_split_like_load_model_and_is_cached(load, run_pipeline):
    pipe = load("batch_pipelines").batch_scoring
    first = run_pipeline(pipe, {"input_pattern": PENGUINS, "label": "species"})
    assert first.failed_tasks == []
    examples = _path(first.outputs("example_gen").artifacts["examples"])
    eval_rows = pq.read_table(os.path.join(examples, "eval"))
    model = cm.load_model(_path(first.outputs("trainer").artifacts["model"]))
    outputs = first.outputs("bulk_inferrer")
    assert outputs.parameters["Output"] == eval_rows.num_rows > 0
    scored = pq.read_table(os.path.join(_path(outputs.artifacts["inference_result"]), "eval"))
    assert scored.column("prediction").to_pylist() == list(model.predict(eval_rows))
    probabilities = np.column_stack(
        [scored.column(f"probability_{c}").to_numpy() for c in model.classes or []]
    )
    np.testing.assert_allclose(probabilities, model.predict_proba(eval_rows))

    second = run_pipeline(pipe, {"input_pattern": PENGUINS, "label": "species"})
    assert second.tasks["bulk_inferrer"].state == ExecutionState.CACHED

    alone = check_component(
        bulk_inferrer,
        parameters={"split": "train", "chunk_rows": 16},
        inputs={"model": _path(first.outputs("trainer").artifacts["model"]), "examples": examples},
    )
    train_rows = pq.read_table(os.path.join(examples, "train")).num_rows
    assert alone.outputs.parameters["Output"] == train_rows


def test_bulk_inferrer_refuses_a_missing_split(load, run_pipeline):
    pipe = load("batch_pipelines").batch_scoring
    result = run_pipeline(pipe, {"input_pattern": PENGUINS, "label": "species", "split": "test"})
    assert result.failed_tasks == ["bulk_inferrer"]
    error = str(result.tasks["bulk_inferrer"].error)
    assert "no split 'test'" in error and "eval" in error
