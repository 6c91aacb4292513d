"""Built-in estimators by name (``sklearn:<Estimator>``, ``xgboost``, ``lightgbm``) and the
validation of their hyperparameters, with errors that say how to fix them."""

from __future__ import annotations

import difflib
import importlib
import inspect
import math
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "PRESETS",
    "Preset",
    "create_estimator",
    "eval_set_kwargs",
    "predict_for_task",
    "resolve_preset",
    "uses_early_stopping",
]

TASKS = ("classification", "regression")


@dataclass(frozen=True)
class Preset:
    """A resolved preset: the framework and the estimator class per task.

    Attributes:
        name: the preset as given (``"xgboost"``, ``"sklearn:LogisticRegression"``).
        framework: ``sklearn``, ``xgboost`` or ``lightgbm``.
        classes: task -> ``"module:Class"``; a preset may serve one task only.
        defaults: hyperparameters applied unless overridden.
    """

    name: str
    framework: str
    classes: Mapping[str, str]
    defaults: Mapping[str, Any]
    extra_parameters: frozenset[str] = frozenset()  # accepted beyond ``get_params()``


PRESETS: dict[str, Preset] = {
    "xgboost": Preset(
        "xgboost",
        "xgboost",
        {"classification": "xgboost:XGBClassifier", "regression": "xgboost:XGBRegressor"},
        {"n_estimators": 200, "learning_rate": 0.1, "max_depth": 3, "n_jobs": 2},
    ),
    "lightgbm": Preset(
        "lightgbm",
        "lightgbm",
        {"classification": "lightgbm:LGBMClassifier", "regression": "lightgbm:LGBMRegressor"},
        {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 8, "verbose": -1, "n_jobs": 2},
        frozenset(
            {"verbose", "max_bin", "bagging_fraction", "feature_fraction", "early_stopping_round"}
        ),
    ),
}
"""Named presets other than ``sklearn:<Estimator>`` (any scikit-learn estimator by name)."""

_SKLEARN_DEFAULTS: dict[str, dict[str, Any]] = {
    "LogisticRegression": {"max_iter": 1000},
    "MLPClassifier": {"max_iter": 500},
    "MLPRegressor": {"max_iter": 500},
}


def _sklearn_estimators() -> dict[str, type]:
    from sklearn.utils.discovery import all_estimators  # type: ignore[import-untyped]

    return {name: cls for name, cls in all_estimators(type_filter=["classifier", "regressor"])}


def resolve_preset(name: str, task: str) -> Preset:
    """The preset called ``name`` for ``task`` (``classification`` or ``regression``).

    Raises:
        ValueError: unknown preset or estimator (with the closest names), or a preset that
            does not serve ``task``.

    Example:
        >>> resolve_preset("xgboost", "classification").classes["classification"]
        'xgboost:XGBClassifier'
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {list(TASKS)}, got {task!r}")
    if name.startswith("sklearn:"):
        estimator = name.partition(":")[2]
        known = _sklearn_estimators()
        cls = known.get(estimator)
        if cls is None:
            close = difflib.get_close_matches(estimator, known, n=3)
            hint = f" Did you mean {close!r}?" if close else ""
            raise ValueError(
                f"Unknown estimator {name!r}: scikit-learn has no classifier or regressor "
                f"named {estimator!r}.{hint} Use 'sklearn:<EstimatorClassName>', "
                f"e.g. 'sklearn:RandomForestClassifier'"
            )
        from sklearn.base import is_classifier  # type: ignore[import-untyped]

        serves = "classification" if is_classifier(cls()) else "regression"
        preset = Preset(
            name, "sklearn", {serves: f"{cls.__module__}:{cls.__name__}"},
            _SKLEARN_DEFAULTS.get(estimator, {}),
        )  # fmt: skip
    elif name in PRESETS:
        preset = PRESETS[name]
    else:
        choices = [*PRESETS, "sklearn:<Estimator>"]
        close = difflib.get_close_matches(name, [*PRESETS, f"sklearn:{name}"], n=2)
        hint = f" Did you mean {close!r}?" if close else ""
        raise ValueError(f"Unknown preset {name!r}.{hint} Use one of {choices!r}")
    if task not in preset.classes:
        raise ValueError(
            f"Preset {name!r} is a {next(iter(preset.classes))} estimator but the task is "
            f"{task!r}; pick a {task} estimator or set task={next(iter(preset.classes))!r}"
        )
    return preset


def _library(module: str) -> types.ModuleType:
    """The module a preset's estimator class is in. XGBoost and LightGBM are imported by
    statement, not by name: a step's cache key holds the versions of the libraries its code
    imports, and :mod:`conveyor.cache.code` finds them by their import statements."""
    if module == "lightgbm":
        import lightgbm

        return lightgbm
    if module == "xgboost":
        import xgboost

        return xgboost
    return importlib.import_module(module)  # scikit-learn: imported by statement above too


def create_estimator(
    name: str, task: str, hyperparameters: Mapping[str, Any] | None = None
) -> tuple[Any, Preset]:
    """Build the (unfitted) estimator of preset ``name`` with checked ``hyperparameters``.

    Names are checked against the estimator's parameters, values against its declared
    constraints (scikit-learn) and for finiteness, so a typo fails before training starts.

    Raises:
        ValueError: unknown preset, unknown hyperparameter (with the closest names) or an
            invalid value.

    Example:
        >>> est, preset = create_estimator("sklearn:LogisticRegression", "classification",
        ...                                {"C": 0.5})
        >>> est.C, preset.framework
        (0.5, 'sklearn')
    """
    preset = resolve_preset(name, task)
    module, _, qualname = preset.classes[task].partition(":")
    cls = getattr(_library(module), qualname)
    params = {**preset.defaults, **dict(hyperparameters or {})}
    allowed = set(cls().get_params(deep=False)) | preset.extra_parameters
    for key, value in params.items():
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=3)
            hint = f" Did you mean {close!r}?" if close else ""
            raise ValueError(
                f"Unknown hyperparameter {key!r} for {name!r} ({qualname}).{hint} "
                f"Valid names: {sorted(allowed)!r}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(
                f"Hyperparameter {key!r} of {name!r} is {value!r}; use a finite number"
            )
    estimator = cls(**params)
    validate = getattr(estimator, "_validate_params", None)
    if preset.framework == "sklearn" and callable(validate):
        try:
            validate()  # scikit-learn's declared parameter constraints, before any fitting
        except (ValueError, TypeError) as exc:
            raise ValueError(f"Invalid hyperparameter for {name!r}: {exc}") from exc
    return estimator, preset


def eval_set_kwargs(
    estimator: Any, framework: str, x_eval: np.ndarray, y_eval: np.ndarray
) -> dict[str, Any]:
    """The ``fit`` keyword arguments that give XGBoost or LightGBM the eval split (their
    per-round eval curve); none for other frameworks."""
    if framework == "xgboost":
        return {"eval_set": [(x_eval, y_eval)], "verbose": False}
    if framework == "lightgbm":
        if "eval_X" in inspect.signature(estimator.fit).parameters:  # LightGBM >= 4.7
            return {"eval_X": (x_eval,), "eval_y": (y_eval,)}
        return {"eval_set": [(x_eval, y_eval)]}
    return {}


def uses_early_stopping(estimator: Any, framework: str) -> bool:
    """Whether an XGBoost or LightGBM estimator stops on its ``eval_set`` (it was given
    ``early_stopping_rounds``, or ``early_stopping_round`` for LightGBM): the data it watches
    then chooses the model. Scikit-learn estimators that stop early carve their own
    validation part from the training data."""
    if framework not in ("xgboost", "lightgbm"):
        return False
    params = estimator.get_params()
    keys = ("early_stopping_rounds", "early_stopping_round", "early_stopping")
    return any(params.get(k) not in (None, False, 0) for k in keys)


def predict_for_task(
    estimator: Any, x: np.ndarray, task: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictions of a fitted estimator and, for a classifier with ``predict_proba``, its
    class probabilities (the prediction is then their argmax, a class index)."""
    if task == "regression":
        return np.asarray(estimator.predict(x), dtype=np.float64), None
    proba = getattr(estimator, "predict_proba", None)
    if proba is None:
        return np.asarray(estimator.predict(x)), None
    p = np.asarray(proba(x), dtype=np.float64)
    return np.argmax(p, axis=1), p
