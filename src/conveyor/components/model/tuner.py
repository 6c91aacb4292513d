"""Tuner: hyperparameter search with Optuna over one preset or several (a small AutoML)."""

from __future__ import annotations

from typing import Any

from conveyor.components.model.data import training_data
from conveyor.dsl import Input, Output, component
from conveyor.model.tuning import tune
from conveyor.types import Examples, Schema
from conveyor.types.model import TransformGraph
from conveyor.types.tuning import HyperParameters, TunerResults

__all__ = ["tuner"]


@component
def tuner(
    examples: Input[Examples],
    schema: Input[Schema],
    best_hyperparameters: Output[HyperParameters],
    tuner_results: Output[TunerResults],
    label: str,
    search_space: dict[str, Any],
    transform_graph: Input[TransformGraph] | None = None,
    sampler: str = "tpe",
    n_trials: int = 20,
    timeout_seconds: float | None = None,
    n_jobs: int | None = None,
    seed: int = 0,
    task: str = "auto",
) -> float:
    """Search ``search_space`` for the best preset and hyperparameters on the eval split.

    ``search_space`` maps presets to hyperparameter distributions (see
    :mod:`conveyor.model.tuning`); several presets make the preset a choice too.
    ``sampler`` is ``tpe``, ``random`` or ``grid``; at most ``n_trials`` trials run, none
    starts after ``timeout_seconds``, ``n_jobs`` at a time (default: the CPU count). XGBoost
    and LightGBM trials are pruned on their per-round eval loss. Writes the best configuration
    as ``best_hyperparameters`` (the Trainer's ``hyperparameters_artifact``) and every trial
    to ``tuner_results``; returns the best value of the main eval metric.

    Example:
        >>> tuner(examples=tf.outputs["transformed_examples"], schema=sg.outputs["schema"],
        ...       transform_graph=tf.outputs["transform_graph"], label="species",
        ...       search_space={"xgboost": {"max_depth": {"type": "int", "low": 2,
        ...                                               "high": 6}}})  # doctest: +SKIP
    """
    data = training_data(examples, schema, label, transform_graph, task)
    result = tune(
        data.x_train,
        data.y_train,
        data.x_eval,
        data.y_eval,
        search_space=search_space,
        sampler=sampler,
        n_trials=n_trials,
        timeout=timeout_seconds,
        n_jobs=n_jobs,
        seed=seed,
        task=data.task,
    )
    best_hyperparameters.write(result.preset, result.hyperparameters, result.metric, result.value)
    tuner_results.write([trial.to_json() for trial in result.trials])
    tuner_results.metadata.update(
        metric=result.metric,
        direction=result.direction,
        sampler=result.sampler,
        n_trials=len(result.trials),
        best_preset=result.preset,
        best_value=result.value,
        elapsed_seconds=result.elapsed_seconds,
        **{f"n_{state.lower()}": n for state, n in result.counts().items()},
    )
    return result.value
