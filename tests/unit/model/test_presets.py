"""Estimator presets: names resolve, hyperparameters are checked with clear messages."""

from __future__ import annotations

import pytest

from conveyor.model.presets import create_estimator, resolve_preset


@pytest.mark.parametrize(
    ("name", "task", "cls"),
    [
        ("sklearn:LogisticRegression", "classification", "LogisticRegression"),
        ("sklearn:RandomForestClassifier", "classification", "RandomForestClassifier"),
        ("sklearn:Ridge", "regression", "Ridge"),
        ("xgboost", "classification", "XGBClassifier"),
        ("xgboost", "regression", "XGBRegressor"),
        ("lightgbm", "classification", "LGBMClassifier"),
    ],
)
def test_presets_build_the_named_estimator(name, task, cls):
    estimator, _ = create_estimator(name, task)
    assert type(estimator).__name__ == cls


def test_presets_apply_hyperparameters_over_defaults():
    estimator, preset = create_estimator("xgboost", "classification", {"max_depth": 5})
    assert estimator.max_depth == 5 and estimator.n_estimators == preset.defaults["n_estimators"]


def test_presets_unknown_estimator_suggests_a_name():
    with pytest.raises(
        ValueError,
        match=r"Unknown estimator 'sklearn:RandomForestClassifer'.*"
        r"RandomForestClassifier",
    ):
        resolve_preset("sklearn:RandomForestClassifer", "classification")
    with pytest.raises(ValueError, match=r"Unknown preset 'xgbost'.*xgboost"):
        resolve_preset("xgbost", "classification")


def test_presets_unknown_hyperparameter_suggests_a_name():
    with pytest.raises(ValueError, match=r"Unknown hyperparameter 'max_dept'.*max_depth"):
        create_estimator("sklearn:RandomForestClassifier", "classification", {"max_dept": 3})


def test_presets_invalid_hyperparameter_value_fails_before_training():
    with pytest.raises(ValueError, match=r"Invalid hyperparameter.*'C'"):
        create_estimator("sklearn:LogisticRegression", "classification", {"C": -1.0})
    with pytest.raises(ValueError, match="use a finite number"):
        create_estimator("xgboost", "classification", {"learning_rate": float("nan")})


def test_presets_refuse_an_estimator_of_the_other_task():
    with pytest.raises(ValueError, match="regression estimator but the task is 'classification'"):
        resolve_preset("sklearn:Ridge", "classification")
