"""Hyperparameter search: the search space's checks, the samplers, determinism, AutoML."""

from __future__ import annotations

import numpy as np
import pytest

from conveyor.model.tuning import parse_search_space, tune


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6))
    logits = np.stack([x[:, 0] + x[:, 1] ** 2, x[:, 2] - x[:, 0] * x[:, 3], np.zeros(400)], 1)
    y = np.argmax(logits + rng.gumbel(size=logits.shape) * 0.3, axis=1).astype(np.int64)
    return x[:300], y[:300], x[300:], y[300:]


LR = {"sklearn:LogisticRegression": {"C": {"type": "float", "low": 1e-3, "high": 100, "log": True}}}
XGB = {
    "xgboost": {
        "max_depth": {"type": "int", "low": 2, "high": 5},
        "learning_rate": {"type": "float", "low": 0.05, "high": 0.5, "log": True},
        "n_estimators": 30,
    }
}


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"xgbost": {}}, "Search space entry 'xgbost': Unknown preset 'xgbost'"),
        ({"sklearn:RandomForestClassifer": {}}, "Did you mean ['RandomForestClassifier'"),
        (
            {"xgboost": {"max_dept": {"type": "int", "low": 1, "high": 3}}},
            "Search space entry 'xgboost'.'max_dept': 'xgboost' has no hyperparameter "
            "'max_dept'. Did you mean ['max_depth'",
        ),
        (
            {"xgboost": {"max_depth": {"type": "int", "low": 6, "high": 2}}},
            "'xgboost'.'max_depth': low (6) > high (2)",
        ),
        (
            {"xgboost": {"max_depth": {"type": "int", "low": 2.5, "high": 6}}},
            "'xgboost'.'max_depth': 'low' must be an integer, got 2.5",
        ),
        (
            {"xgboost": {"max_depth": {"type": "integer", "low": 2, "high": 6}}},
            "'type' must be one of ['float', 'int', 'categorical'], got 'integer'",
        ),
        (
            {"xgboost": {"learning_rate": {"type": "float", "low": "a", "high": 1}}},
            "'xgboost'.'learning_rate': 'low' must be a number",
        ),
        (
            {"xgboost": {"learning_rate": {"type": "float", "low": 0, "high": 1, "log": True}}},
            "a log scale needs low > 0",
        ),
        (
            {"xgboost": {"max_depth": {"type": "categorical", "choices": []}}},
            "'choices' must be a non-empty list",
        ),
        (
            {"xgboost": {"max_depth": {"type": "int", "lo": 2, "high": 6}}},
            "unknown key(s) ['lo']",
        ),
        (
            {"sklearn:LogisticRegression": {"C": {"type": "float", "low": -1, "high": 1}}},
            "Search space entry 'sklearn:LogisticRegression'.'C': Invalid hyperparameter",
        ),
        ({"xgboost": []}, "Search space entry 'xgboost' must be an object"),
        ({}, "The search space is empty"),
    ],
)
def test_a_bad_search_space_fails_naming_the_entry(space, message):
    with pytest.raises(ValueError) as info:
        parse_search_space(space, "classification")
    assert message in str(info.value)


def test_a_regression_space_refuses_a_classifier():
    with pytest.raises(ValueError, match=r"'sklearn:LogisticRegression'.*classification"):
        parse_search_space(LR, "regression")


def test_grid_needs_a_step_for_floats(data):
    with pytest.raises(ValueError, match="grid sampler needs a 'step'"):
        tune(*data, search_space=LR, sampler="grid", n_trials=3, n_jobs=1)


def test_bad_arguments_are_refused(data):
    with pytest.raises(ValueError, match="sampler must be one of"):
        tune(*data, search_space=LR, sampler="bayes")
    with pytest.raises(ValueError, match="n_trials must be a positive integer"):
        tune(*data, search_space=LR, n_trials=0)


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_a_seed_makes_the_search_deterministic_even_in_parallel(data, sampler):
    def run(seed: int) -> list[tuple]:
        result = tune(*data, search_space=XGB, sampler=sampler, n_trials=6, n_jobs=2, seed=seed)
        return [(t.params, t.value, t.state) for t in result.trials]

    first = run(7)
    assert run(7) == first
    assert run(8) != first


def test_grid_visits_every_point_once(data):
    space = {"xgboost": {"max_depth": {"type": "int", "low": 2, "high": 4}, "n_estimators": 20},
             "sklearn:LogisticRegression": {"C": {"type": "categorical",
                                                  "choices": [0.1, 1.0]}}}  # fmt: skip
    result = tune(*data, search_space=space, sampler="grid", n_trials=50, n_jobs=2, seed=0)
    points = sorted((t.preset, str(sorted(t.params.items()))) for t in result.trials)
    assert len(result.trials) == 5 and len(set(points)) == 5
    assert {t.params.get("max_depth") for t in result.trials if t.preset == "xgboost"} == {2, 3, 4}


def test_float_grid_with_a_step(data):
    space = {"sklearn:LogisticRegression": {"C": {"type": "float", "low": 0.5, "high": 2,
                                                  "step": 0.5}}}  # fmt: skip
    result = tune(*data, search_space=space, sampler="grid", n_trials=10, n_jobs=1)
    assert sorted(t.params["C"] for t in result.trials) == [0.5, 1.0, 1.5, 2.0]


def test_tpe_improves_on_a_bad_start_and_records_every_trial(data):
    result = tune(*data, search_space=LR, sampler="tpe", n_trials=14, n_jobs=1, seed=0)
    assert [t.number for t in result.trials] == list(range(14))
    assert all(t.state == "COMPLETE" and t.duration_seconds > 0 for t in result.trials)
    assert result.metric == "accuracy" and result.direction == "maximize"
    assert result.value == max(t.value for t in result.trials if t.value is not None)
    assert result.preset == "sklearn:LogisticRegression"
    assert set(result.hyperparameters) == {"C", "random_state"}


def test_automl_picks_among_model_families(data):
    space = {
        **LR,
        **XGB,
        "sklearn:RandomForestClassifier": {
            "n_estimators": {"type": "categorical", "choices": [20, 50]}
        },
    }
    result = tune(*data, search_space=space, sampler="random", n_trials=12, n_jobs=2, seed=3)
    assert {t.preset for t in result.trials} == set(space)
    best = {p: max((t.value or 0) for t in result.trials if t.preset == p) for p in space}
    # the label is non-linear: trees beat the linear model, and the best family wins
    assert best["sklearn:LogisticRegression"] < max(best.values())
    assert result.preset != "sklearn:LogisticRegression"
    assert result.value == max(best.values())


def test_slow_boosting_trials_are_pruned(data):
    space = {"xgboost": {"learning_rate": {"type": "float", "low": 1e-4, "high": 0.5,
                                           "log": True}, "n_estimators": 40}}  # fmt: skip
    result = tune(*data, search_space=space, sampler="random", n_trials=12, n_jobs=1, seed=1)
    pruned = [t for t in result.trials if t.state == "PRUNED"]
    assert pruned and all(t.value is None for t in pruned)
    assert all(t.params["learning_rate"] < result.hyperparameters["learning_rate"] for t in pruned)


def test_regression_minimises_rmse(data):
    x, _, xe, _ = data
    y, ye = x[:, 0] * 2 + x[:, 1], xe[:, 0] * 2 + xe[:, 1]
    space = {"sklearn:Ridge": {"alpha": {"type": "float", "low": 1e-3, "high": 1e3, "log": True}}}
    result = tune(x, y, xe, ye, search_space=space, n_trials=8, n_jobs=1)
    assert result.task == "regression" and result.metric == "rmse"
    assert result.direction == "minimize" and result.value < 0.1


def test_failed_trials_are_recorded_and_the_search_goes_on(data):
    # 1000 neighbours is a valid value but more than the 300 training rows: those trials fail
    space = {"sklearn:KNeighborsClassifier": {
        "n_neighbors": {"type": "categorical", "choices": [1000, 5]}}}  # fmt: skip
    result = tune(*data, search_space=space, sampler="grid", n_trials=2, n_jobs=1)
    states = {t.params["n_neighbors"]: t for t in result.trials}
    assert states[1000].state == "FAIL" and "n_neighbors" in (states[1000].error or "")
    assert result.hyperparameters["n_neighbors"] == 5
