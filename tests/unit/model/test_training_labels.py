"""The Trainer never drops eval rows silently: unseen labels fail (or are dropped by policy,
recorded), and the metrics say how many rows they were computed on."""

from __future__ import annotations

import numpy as np
import pytest
from model_inputs import examples, outputs, schema

from conveyor.components.model import trainer
from conveyor.components.model.data import training_data

RNG = np.random.default_rng(0)
TRAIN = {"x": list(RNG.normal(size=60)), "y": ["a", "b"] * 30}


def _eval(labels: list[str | None]) -> dict[str, list]:
    return {"x": list(RNG.normal(size=len(labels))), "y": labels}


def _train(tmp_path, eval_labels, **params):
    ex = examples(tmp_path, {"train": TRAIN, "eval": _eval(eval_labels)})
    out = outputs(tmp_path)
    trainer.python_func(examples=ex, schema=schema(tmp_path), label="y", **out, **params)
    return out


def test_eval_rows_with_labels_unseen_in_train_fail_with_the_values_and_counts(tmp_path):
    labels = ["a", "b"] * 10 + ["c"] * 3 + ["d"]
    with pytest.raises(ValueError, match=r"4 of 24 labelled rows .*\{'c': 3, 'd': 1\}") as err:
        _train(tmp_path, labels)
    assert "unseen_labels='drop'" in str(err.value)


def test_an_eval_split_whose_labels_are_all_unseen_fails_with_the_values_not_zero_samples(
    tmp_path,
):
    with pytest.raises(ValueError, match=r"5 of 5 labelled rows .*\{'c': 5\}"):
        _train(tmp_path, ["c"] * 5)


def test_the_drop_policy_leaves_unseen_labels_out_and_records_how_many(tmp_path):
    labels = ["a", "b"] * 10 + ["c"] * 3 + [None] * 2
    out = _train(tmp_path, labels, unseen_labels="drop")
    meta = out["metrics"].metadata
    assert meta["train_rows"] == 60 and meta["eval_rows"] == 20
    assert meta["dropped_rows"] == {"eval": {"null_label": 2, "unseen_label": {"c": 3}}}
    assert out["model"].metadata["eval_rows"] == 20


def test_the_drop_policy_with_every_eval_label_unseen_says_so(tmp_path):
    with pytest.raises(ValueError, match=r"no labelled rows to evaluate on .*'c': 4"):
        _train(tmp_path, ["c"] * 4, unseen_labels="drop")


def test_metrics_say_how_many_rows_they_were_computed_on_when_nothing_is_dropped(tmp_path):
    out = _train(tmp_path, ["a", "b"] * 8)
    meta = out["metrics"].metadata
    assert (meta["train_rows"], meta["eval_rows"], meta["dropped_rows"]) == (60, 16, {})


def test_an_unknown_unseen_label_policy_is_refused(tmp_path):
    ex = examples(tmp_path, {"train": TRAIN, "eval": _eval(["a"])})
    with pytest.raises(ValueError, match="unseen_labels must be one of"):
        training_data(ex, schema(tmp_path), "y", None, unseen_labels="ignore")


def test_a_run_fn_gets_a_holdout_of_train_for_early_stopping(tmp_path):
    ex = examples(tmp_path, {"train": TRAIN, "eval": _eval(["a", "b"] * 5)})
    out = outputs(tmp_path)
    trainer.python_func(
        examples=ex,
        schema=schema(tmp_path),
        label="y",
        run_fn="model_inputs:fit_on_validation_data",
        validation_fraction=0.25,
        **out,
    )
    meta = out["metrics"].metadata
    assert meta["fit_rows"] + meta["validation_rows"] == 60 and meta["validation_rows"] > 0
    assert meta["validation"] == "25% of the 'train' split, by row hash"


def test_the_trainer_refuses_cross_validation_for_early_stopping(tmp_path):
    with pytest.raises(ValueError, match=r"validation must be one of \['holdout', 'split'\]"):
        _train(tmp_path, ["a", "b"], validation="cv")
