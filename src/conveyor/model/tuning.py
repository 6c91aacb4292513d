"""Hyperparameter search with Optuna, over one preset or several (a small AutoML).

The search space is plain JSON, so it can be a pipeline parameter::

    {
        "sklearn:LogisticRegression": {"C": {"type": "float", "low": 0.001, "high": 100,
                                             "log": true}},
        "xgboost": {"max_depth": {"type": "int", "low": 2, "high": 6},
                    "learning_rate": {"type": "float", "low": 0.01, "high": 0.3, "log": true}},
        "sklearn:RandomForestClassifier": {"n_estimators": {"type": "categorical",
                                                            "choices": [50, 100]}},
    }

Each key is a preset (see :mod:`conveyor.model.presets`); with several, the preset is itself a
categorical choice of the search. Each entry is ``{"type": "float", "low", "high", "log"?,
"step"?}``, ``{"type": "int", "low", "high", "log"?, "step"?}``, ``{"type": "categorical",
"choices": [...]}`` or a plain value (a fixed hyperparameter).

Determinism: trials run in batches of ``n_jobs`` (threads). A batch's parameters are sampled
in the calling thread, its trials train in parallel, and their results are told to the study
in trial order before the next batch is sampled, so a seed gives the same trials whatever the
thread timing (for the same ``n_jobs``). Estimators that take a ``random_state`` get the seed
unless the search space sets it.

Pruning (``pruning=True``): XGBoost and LightGBM trials report the eval loss of every boosting
round (negated when the tuned metric is maximised) and Optuna's ``MedianPruner`` stops a trial
whose loss at a round is worse than the median of the completed trials at that round (after 3
completed trials and 5 warm-up rounds). Scikit-learn estimators train in one call and are never
pruned.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from conveyor.model.metrics import evaluate, main_metric
from conveyor.model.presets import (
    create_estimator,
    eval_set_kwargs,
    predict_for_task,
)
from conveyor.model.search_space import ParamSpec, allowed_names, is_number, parse_search_space

__all__ = ["SAMPLERS", "ParamSpec", "TrialRecord", "TuningResult", "parse_search_space", "tune"]

SAMPLERS = ("tpe", "random", "grid")
MAX_GRID = 100_000


@dataclass
class TrialRecord:
    """One trial: its preset and parameters, the metric it reached, its state and duration."""

    number: int
    preset: str
    params: dict[str, Any]
    value: float | None
    state: str
    duration_seconds: float
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready dict (``error`` only for failed trials)."""
        out = asdict(self)
        if out["error"] is None:
            del out["error"]
        return out


@dataclass
class TuningResult:
    """The outcome of :func:`tune`: the best configuration and every trial."""

    preset: str
    hyperparameters: dict[str, Any]
    metric: str
    value: float
    direction: str
    sampler: str
    task: str
    trials: list[TrialRecord] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        """The number of trials per state (``COMPLETE``, ``PRUNED``, ``FAIL``)."""
        out: dict[str, int] = {}
        for trial in self.trials:
            out[trial.state] = out.get(trial.state, 0) + 1
        return out


def _infer_task(y: np.ndarray) -> str:
    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.mod(y, 1) == 0):
        return "regression"
    return "classification"


def _higher_is_better(metric: str) -> bool:
    return metric.startswith(("auc", "map", "ndcg", "pre"))


def _suggest(trial: Any, preset: str, specs: list[ParamSpec]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for spec in specs:
        key = f"{preset}/{spec.name}"
        if spec.type == "fixed":
            params[spec.name] = spec.value
        elif spec.type == "categorical":
            params[spec.name] = trial.suggest_categorical(key, list(spec.choices))
        elif spec.type == "int":
            params[spec.name] = trial.suggest_int(
                key, int(spec.low or 0), int(spec.high or 0), step=int(spec.step or 1), log=spec.log
            )
        else:
            params[spec.name] = trial.suggest_float(
                key, float(spec.low or 0), float(spec.high or 0), step=spec.step, log=spec.log
            )
    return params


@dataclass
class _Part:
    """One (fit, validation) pair: the whole search scores on one, cross-validation on k."""

    x_fit: np.ndarray
    y_fit: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray


@dataclass
class _Data:
    parts: list[_Part]
    task: str
    metric: str
    direction: str


def _run_trial(
    trial: Any, preset: str, params: dict[str, Any], data: _Data, pruning: bool, threads: int | None
) -> float:
    """The trial's metric: on the validation data, or its mean over the folds (never pruned:
    rounds of different folds are not comparable)."""
    if len(data.parts) == 1:
        return _fit_and_score(trial, preset, params, data, data.parts[0], pruning, threads)
    values = [
        _fit_and_score(trial, preset, params, data, part, False, threads) for part in data.parts
    ]
    return float(np.mean(values))


def _fit_and_score(
    trial: Any,
    preset: str,
    params: dict[str, Any],
    data: _Data,
    part: _Part,
    pruning: bool,
    threads: int | None,
) -> float:
    import optuna

    estimator, resolved = create_estimator(preset, data.task, params)
    if threads and "n_jobs" not in params and resolved.framework in ("xgboost", "lightgbm"):
        estimator.set_params(n_jobs=threads)  # parallel trials share the CPUs
    sign = -1.0 if data.direction == "maximize" else 1.0
    kwargs = eval_set_kwargs(estimator, resolved.framework, part.x_valid, part.y_valid)
    pruned: list[int] = []
    if resolved.framework == "xgboost":
        import xgboost

        class Pruning(xgboost.callback.TrainingCallback):
            def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
                if not evals_log:
                    return False
                metric, values = list(next(iter(evals_log.values())).items())[-1]
                value = values[-1][0] if isinstance(values[-1], tuple) else values[-1]
                factor = -sign if _higher_is_better(metric) else sign
                trial.report(factor * float(value), epoch)
                if trial.should_prune():
                    pruned.append(epoch)
                    return True
                return False

        if pruning:
            estimator.set_params(callbacks=[Pruning()])
    elif resolved.framework == "lightgbm":

        def lightgbm_pruning(env: Any) -> None:
            if not env.evaluation_result_list:
                return
            _, _, value, higher_better = env.evaluation_result_list[0][:4]
            factor = -sign if higher_better else sign
            trial.report(factor * float(value), env.iteration)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at boosting round {env.iteration}")

        if pruning:
            kwargs["callbacks"] = [lightgbm_pruning]
    estimator.fit(part.x_fit, part.y_fit, **kwargs)
    if pruned:
        raise optuna.TrialPruned(f"pruned at boosting round {pruned[0]}")
    prediction, proba = predict_for_task(estimator, part.x_valid, data.task)
    scores = evaluate(data.task, part.y_valid, prediction, proba)
    value = scores.get(data.metric)
    if value is None:
        raise ValueError(f"Metric {data.metric!r} is undefined on the validation data: {scores!r}")
    return float(value)


def _sampler(name: str, seed: int, n_jobs: int) -> Any:
    import optuna

    if name in ("random", "grid"):  # the grid's points are enqueued in a seeded order
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, constant_liar=n_jobs > 1)


def _grid(space: dict[str, list[ParamSpec]]) -> list[tuple[str, dict[str, Any]]]:
    configs: list[tuple[str, dict[str, Any]]] = []
    for preset, specs in space.items():
        for spec in specs:
            if spec.type == "float" and spec.step is None:
                raise ValueError(
                    f"Search space entry {preset!r}.{spec.name!r}: the grid sampler needs a "
                    "'step' for a float (or use 'categorical' choices)"
                )
        axes = [spec.grid() for spec in specs]
        size = math.prod(len(axis) for axis in axes)
        if len(configs) + size > MAX_GRID:
            raise ValueError(
                f"The grid has over {MAX_GRID} points; use larger steps, fewer choices or the "
                "'tpe' or 'random' sampler"
            )
        for values in itertools.product(*axes):
            configs.append((preset, {s.name: v for s, v in zip(specs, values, strict=True)}))
    return configs


def tune(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_eval: np.ndarray | None = None,
    y_eval: np.ndarray | None = None,
    *,
    folds: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    search_space: Mapping[str, Any],
    presets: Sequence[str] | None = None,
    sampler: str = "tpe",
    n_trials: int = 20,
    timeout: float | None = None,
    n_jobs: int | None = None,
    seed: int = 0,
    task: str = "auto",
    pruning: bool = True,
) -> TuningResult:
    """Search ``search_space`` for the preset and hyperparameters with the best validation
    metric.

    Each trial trains on ``x_train``/``y_train`` (class indices for classification) and is
    scored on ``x_eval``/``y_eval``, validation data the model will not be judged on (see
    :mod:`conveyor.model.validation`); or, with ``folds`` (``(fit rows, validation rows)``
    index pairs into the train arrays, e.g. :func:`~conveyor.model.validation.cv_folds`) and
    no eval arrays, by its mean over the folds (cross-validation; no pruning then). The
    metric is the Trainer's main metric: ROC AUC (binary),
    accuracy (multiclass), both maximised, or RMSE (regression), minimised. ``sampler`` is
    ``tpe`` (Optuna's TPE), ``random`` or ``grid`` (every combination, in a seeded random
    order; floats need a ``step``). At most ``n_trials`` trials run; none starts after
    ``timeout`` seconds (a started one finishes). ``n_jobs`` trials train in parallel threads
    (default: the CPU count). A trial whose estimator fails is recorded as ``FAIL`` with its
    error and the search goes on.

    Raises:
        ValueError: a bad search space or argument (naming the entry), both or neither of
            the eval arrays and ``folds``, or every trial failed.

    Example:
        >>> result = tune(x, y, xe, ye, search_space={"xgboost": {"max_depth":
        ...     {"type": "int", "low": 2, "high": 6}}}, n_trials=10)  # doctest: +SKIP
        >>> result.preset, result.hyperparameters, result.value  # doctest: +SKIP
        ('xgboost', {'max_depth': 3, 'random_state': 0}, 0.98)
    """
    import optuna

    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {list(SAMPLERS)}, got {sampler!r}")
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"n_trials must be a positive integer, got {n_trials!r}")
    if timeout is not None and (not is_number(timeout) or timeout <= 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if n_jobs is None or n_jobs <= 0:
        n_jobs = os.cpu_count() or 1
    if task == "auto":
        task = _infer_task(y_train)
    elif task not in ("classification", "regression"):
        raise ValueError(f"task must be 'auto', 'classification' or 'regression', got {task!r}")
    space = parse_search_space(search_space, task, presets)
    if folds is not None:
        if x_eval is not None or y_eval is not None:
            raise ValueError("Give the validation arrays or folds, not both")
        if not folds:
            raise ValueError("folds is empty: give (fit rows, validation rows) pairs")
        parts = [_Part(x_train[a], y_train[a], x_train[b], y_train[b]) for a, b in folds]
    elif x_eval is None or y_eval is None:
        raise ValueError("Give the validation arrays (x_eval, y_eval) or folds")
    else:
        parts = [_Part(x_train, y_train, x_eval, y_eval)]
    metric = main_metric(task, len(np.unique(y_train)))
    if metric == "roc_auc" and any(len(np.unique(p.y_valid)) < 2 for p in parts):
        metric = "accuracy"
    direction: Literal["minimize", "maximize"] = "minimize" if task == "regression" else "maximize"
    data = _Data(parts, task, metric, direction)
    grid = _grid(space) if sampler == "grid" else []
    if grid:
        n_trials = min(n_trials, len(grid))
    n_jobs = max(1, min(n_jobs, n_trials))
    cpus = os.cpu_count() or 1
    threads = max(1, cpus // n_jobs) if n_jobs > 1 else None  # None: the preset's default
    optuna.logging.set_verbosity(logging.WARNING)
    study = optuna.create_study(
        direction=direction,
        sampler=_sampler(sampler, seed, n_jobs),
        pruner=(
            optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=5)
            if pruning
            else optuna.pruners.NopPruner()
        ),
    )
    if grid:
        for index in np.random.default_rng(seed).permutation(len(grid))[:n_trials]:
            study.enqueue_trial({"config": int(index)})
    preset_names = list(space)
    seeded = {p for p in preset_names if "random_state" in allowed_names(p, task)}

    def configure(trial: Any) -> tuple[str, dict[str, Any]]:
        if grid:
            preset, params = grid[trial.suggest_categorical("config", list(range(len(grid))))]
            params = dict(params)
        else:
            preset = (
                trial.suggest_categorical("preset", preset_names)
                if len(preset_names) > 1
                else preset_names[0]
            )
            params = _suggest(trial, preset, space[preset])
        if "random_state" not in params and preset in seeded:
            params["random_state"] = seed
        return preset, params

    def run(item: tuple[Any, str, dict[str, Any]]) -> tuple[str, float | None, str | None, float]:
        trial, preset, params = item
        start = time.perf_counter()
        value: float | None
        try:
            value = _run_trial(trial, preset, params, data, pruning, threads)
            state, error = "COMPLETE", None
            if not math.isfinite(float(value or 0)):
                state, error, value = "FAIL", f"the metric is {value!r}", None
        except optuna.TrialPruned:
            state, error, value = "PRUNED", None, None
        except Exception as exc:  # a bad combination fails this trial, not the search
            state, error, value = "FAIL", f"{type(exc).__name__}: {exc}", None
        return state, value, error, time.perf_counter() - start

    started = time.monotonic()
    records: list[TrialRecord] = []
    pool = ThreadPoolExecutor(max_workers=n_jobs) if n_jobs > 1 else None
    try:
        while len(records) < n_trials:
            if timeout is not None and time.monotonic() - started >= timeout:
                break
            batch = []
            for _ in range(min(n_jobs, n_trials - len(records))):
                trial = study.ask()
                batch.append((trial, *configure(trial)))
            outcomes = list(pool.map(run, batch)) if pool else [run(item) for item in batch]
            for (trial, preset, params), (state, value, error, seconds) in zip(
                batch, outcomes, strict=True
            ):
                if state == "COMPLETE":
                    study.tell(trial, value)
                elif state == "PRUNED":
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                else:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                records.append(
                    TrialRecord(
                        trial.number, preset, params, value, state, round(seconds, 4), error
                    )
                )
    finally:
        if pool is not None:
            pool.shutdown()
    complete = [r for r in records if r.state == "COMPLETE" and r.value is not None]
    if not complete:
        errors = [f"trial {r.number} ({r.preset}): {r.error}" for r in records if r.error]
        raise ValueError(
            f"No trial completed out of {len(records)}. "
            + ("; ".join(errors[:3]) if errors else "Raise the timeout or the trial budget")
        )
    sign = -1.0 if direction == "maximize" else 1.0
    best = min(complete, key=lambda r: (sign * (r.value or 0.0), r.number))
    assert best.value is not None
    return TuningResult(
        preset=best.preset,
        hyperparameters=dict(best.params),
        metric=metric,
        value=best.value,
        direction=direction,
        sampler=sampler,
        task=task,
        trials=records,
        elapsed_seconds=round(time.monotonic() - started, 4),
    )
