"""Tuner: hyperparameter search with Optuna over one preset or several (a small AutoML)."""

from __future__ import annotations

from typing import Any

import pyarrow.compute as pc

from conveyor.components.model.trainer import _features, _labels, _task_of
from conveyor.components.model.transform import read_schema, read_split
from conveyor.dsl import Input, Output, component
from conveyor.model.transform import fit_transform, load_transform
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
    data_schema = read_schema(schema)
    label_schema = data_schema.feature(label)
    if label_schema is None:
        names = [f.name for f in data_schema.features]
        raise ValueError(f"Label {label!r} is not in the schema; features: {names!r}")
    train_table = read_split(examples, "train")
    eval_table = read_split(examples, "eval")
    if transform_graph is not None:
        fitted = load_transform(transform_graph.path)
    elif examples.metadata.get("transformed"):
        raise ValueError("These examples are transformed: connect the transform_graph too")
    else:
        fitted = fit_transform(train_table, data_schema, label)
    if label not in train_table.column_names:
        raise ValueError(f"The examples have no label column {label!r}")
    resolved_task = _task_of(task, label_schema.type, train_table.column(label))
    classes = None
    if resolved_task == "classification":
        classes = sorted(pc.unique(pc.drop_null(train_table.column(label))).to_pylist())
    train_table, y_train = _labels(train_table, label, resolved_task, classes)
    eval_table, y_eval = _labels(eval_table, label, resolved_task, classes)
    result = tune(
        _features(examples, train_table, fitted),
        y_train,
        _features(examples, eval_table, fitted),
        y_eval,
        search_space=search_space,
        sampler=sampler,
        n_trials=n_trials,
        timeout=timeout_seconds,
        n_jobs=n_jobs,
        seed=seed,
        task=resolved_task,
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
