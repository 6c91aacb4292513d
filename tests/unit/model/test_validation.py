"""Validation data carved from train: a stable holdout, k folds, and tuning on them."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from conveyor.data.splits import split_table
from conveyor.model.tuning import tune
from conveyor.model.validation import check_holdout, check_validation, cv_folds, holdout_mask

TABLE = pa.table({"id": list(range(5000)), "x": np.linspace(0, 1, 5000)})
SPACE = {"sklearn:LogisticRegression": {"C": {"type": "float", "low": 0.01, "high": 10}}}


def test_the_holdout_is_the_same_rows_whatever_their_order():
    mask = holdout_mask(TABLE, 0.2)
    order = np.random.default_rng(0).permutation(TABLE.num_rows)
    shuffled = holdout_mask(TABLE.take(pa.array(order)), 0.2)
    np.testing.assert_array_equal(shuffled, mask[order])
    assert 0.18 < mask.mean() < 0.22


def test_the_holdout_of_a_hashed_train_split_is_not_empty_nor_all_of_it():
    # ExampleGen splits by the same row hash: the holdout must be independent of it
    train = split_table(TABLE, {"train": 0.8, "eval": 0.2})["train"]
    assert 0.17 < holdout_mask(train, 0.2).mean() < 0.23


def test_a_larger_fraction_keeps_every_row_of_a_smaller_one():
    small, large = holdout_mask(TABLE, 0.1), holdout_mask(TABLE, 0.3)
    assert not np.any(small & ~large)


@pytest.mark.parametrize("carved", [[False, False], [True, True]])
def test_a_holdout_leaving_a_part_empty_is_refused_with_the_hint(carved):
    with pytest.raises(ValueError, match=r"carves \d of 2 train rows; both parts need rows!$"):
        check_holdout(np.array(carved), 0.5, "!")
    check_holdout(np.array([True, False]), 0.5)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_folds_cover_every_row_once_and_stratify_classes(task):
    y = np.repeat([0, 1, 2], [50, 30, 20]) if task == "classification" else np.arange(100.0)
    folds = cv_folds(y, 5, task, seed=0)
    valid = np.concatenate([b for _, b in folds])
    assert sorted(valid.tolist()) == list(range(100))
    for fit, val in folds:
        assert set(fit) & set(val) == set()
        if task == "classification":
            assert np.bincount(y[val]).tolist() == [10, 6, 4]


def test_folds_refuse_a_class_rarer_than_the_folds():
    with pytest.raises(ValueError, match="rarest class has 3 train rows"):
        cv_folds(np.array([0] * 20 + [1] * 3), 5, "classification")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("kfold", 0.2, 5, None), "validation must be one of"),
        (("holdout", 1.0, 5, None), "validation_fraction must be in"),
        (("cv", 0.2, 1, None), "cv_folds must be an integer >= 2"),
        (("split", 0.2, 5, None), "needs validation_split"),
    ],
)
def test_bad_validation_settings_are_refused(args, words):
    with pytest.raises(ValueError, match=words):
        check_validation(*args)


def test_tuning_by_cross_validation_scores_the_mean_over_the_folds():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] + rng.normal(scale=0.5, size=200) > 0).astype(np.int64)
    folds = cv_folds(y, 4, "classification")
    result = tune(x, y, folds=folds, search_space=SPACE, n_trials=3, n_jobs=1, sampler="random")
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    best = result.hyperparameters
    expected = np.mean(
        [
            roc_auc_score(y[b], LogisticRegression(max_iter=1000, **best).fit(x[a], y[a])
                          .predict_proba(x[b])[:, 1])
            for a, b in folds
        ]
    )  # fmt: skip
    assert result.metric == "roc_auc" and result.value == pytest.approx(expected)


def test_tuning_takes_validation_arrays_or_folds_not_both():
    x, y = np.zeros((10, 1)), np.array([0, 1] * 5)
    with pytest.raises(ValueError, match="not both"):
        tune(x, y, x, y, folds=[(np.arange(5), np.arange(5, 10))], search_space=SPACE)
    with pytest.raises(ValueError, match="or folds"):
        tune(x, y, search_space=SPACE)
