"""The Evaluator says how many rows its metrics were computed on and how many it left out."""

from __future__ import annotations

import json

import numpy as np
from model_inputs import examples
from toy_models import CLASSES, SCHEMA, toy_table

from conveyor.components.model import evaluator
from conveyor.model.presets import create_estimator
from conveyor.model.saved import save_model
from conveyor.model.transform import fit_transform
from conveyor.types import Model
from conveyor.types.evaluation import ModelBlessing, ModelEvaluation


def test_eval_rows_without_a_label_are_counted_in_the_evaluation(tmp_path, capsys):
    table = toy_table(200)
    fitted = fit_transform(table, SCHEMA, "y")
    estimator, _ = create_estimator("sklearn:LogisticRegression", "classification", {})
    estimator.fit(fitted.matrix(table), np.searchsorted(CLASSES, table.column("y").to_pylist()))
    path = str(tmp_path / "model")
    save_model(path, estimator, fitted, task="classification", label="y", classes=CLASSES)
    rows = table.slice(0, 50).to_pydict()
    rows["y"] = [*rows["y"][:47], None, None, None]
    ex = examples(tmp_path, {"eval": rows})
    evaluation = ModelEvaluation(name="evaluation", path=str(tmp_path / "evaluation"))
    blessing = ModelBlessing(name="blessing", path=str(tmp_path / "blessing"))
    evaluator.python_func(
        examples=ex,
        model=Model(name="model", path=path),
        evaluation=evaluation,
        blessing=blessing,
        eval_config={"bootstrap_resamples": 20},  # the intervals' rows must not mix with these
    )
    with open(tmp_path / "evaluation" / "evaluation.json") as fh:
        document = json.load(fh)
    assert document["rows"] == {"read": 50, "without_label": 3}
    assert document["slices"]["overall"]["count"] == 47
    assert evaluation.metadata["rows_without_label"] == 3
    assert "on 47 eval rows (3 without a label left out)" in capsys.readouterr().out
