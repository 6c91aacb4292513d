"""Tuner: hyperparameter search with Optuna over one preset or several (a small AutoML)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conveyor.dsl import Input, Output, component
from conveyor.execution.data_use import record_data_use
from conveyor.types import Examples, Schema
from conveyor.types.model import TransformGraph
from conveyor.types.tuning import HyperParameters, TunerResults

if TYPE_CHECKING:
    import numpy as np

    from conveyor.components.model.data import TrainingData

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
    validation: str = "holdout",
    validation_fraction: float = 0.2,
    cv_folds: int = 5,
    validation_split: str | None = None,
    train_split: str = "train",
    unseen_labels: str = "fail",
) -> float:
    """Search ``search_space`` for the best preset and hyperparameters on validation data.

    Trials are scored on data the Evaluator does not judge (the eval split stays unseen):
    ``validation="holdout"`` (default) trains on the train split less a
    ``validation_fraction`` carved by a stable row hash and scores on that part; ``"cv"``
    scores by ``cv_folds``-fold cross-validation on train (stratified for classification;
    no pruning); ``"split"`` scores on ``validation_split``, a split of the examples made
    for it. The step records which split it scored on (its execution's ``data_use``), so
    the Evaluator can warn when asked to bless on it.

    ``search_space`` maps presets to hyperparameter distributions (see
    :mod:`conveyor.model.tuning`); several presets make the preset a choice too.
    ``sampler`` is ``tpe``, ``random`` or ``grid``; at most ``n_trials`` trials run, none
    starts after ``timeout_seconds``, ``n_jobs`` at a time (default: the CPU count). XGBoost
    and LightGBM trials are pruned on their per-round validation loss. Writes the best
    configuration as ``best_hyperparameters`` (the Trainer's ``hyperparameters_artifact``)
    and every trial to ``tuner_results``; returns the best value of the main validation
    metric.

    Example:
        >>> tuner(examples=tf.outputs["transformed_examples"], schema=sg.outputs["schema"],
        ...       transform_graph=tf.outputs["transform_graph"], label="species",
        ...       search_space={"xgboost": {"max_depth": {"type": "int", "low": 2,
        ...                                               "high": 6}}})  # doctest: +SKIP
    """
    from conveyor.components.model.data import split_matrices, training_data
    from conveyor.model.tuning import tune
    from conveyor.model.validation import check_validation, describe, holdout_mask
    from conveyor.model.validation import cv_folds as make_folds

    check_validation(validation, validation_fraction, cv_folds, validation_split)
    data = training_data(
        examples, schema, label, transform_graph, task, train_split, None, unseen_labels
    )
    common: dict[str, Any] = {
        "search_space": search_space,
        "sampler": sampler,
        "n_trials": n_trials,
        "timeout": timeout_seconds,
        "n_jobs": n_jobs,
        "seed": seed,
        "task": data.task,
    }
    scored_split = train_split
    if validation == "cv":
        folds = make_folds(data.y_train, cv_folds, data.task, seed)
        result = tune(data.x_train, data.y_train, folds=folds, **common)
        rows = {"train": len(data.y_train)}
    elif validation == "split":
        assert validation_split is not None
        x_valid, y_valid, left_out = split_matrices(
            examples, data, label, validation_split, unseen_labels
        )
        if len(y_valid) == 0:
            raise ValueError(f"The {validation_split!r} split has no labelled rows to score on")
        result = tune(data.x_train, data.y_train, x_valid, y_valid, **common)
        scored_split = validation_split
        rows = {"train": len(data.y_train), "validation": len(y_valid)}
        if left_out:
            tuner_results.metadata["dropped_rows"] = {validation_split: left_out}
    else:
        valid = holdout_mask(data.train, validation_fraction)
        _check_holdout(data, valid, validation_fraction)
        result = tune(
            data.x_train[~valid],
            data.y_train[~valid],
            data.x_train[valid],
            data.y_train[valid],
            **common,
        )
        rows = {"train": int((~valid).sum()), "validation": int(valid.sum())}
    detail = describe(validation, validation_fraction, cv_folds, validation_split, train_split)
    record_data_use(examples, scored_split, "tuning", detail)
    print(f"tuned on {detail}: {rows!r} rows; best {result.metric} {result.value:.4g}")
    best_hyperparameters.write(result.preset, result.hyperparameters, result.metric, result.value)
    best_hyperparameters.metadata.update(validation=detail, validation_split=scored_split)
    tuner_results.write([trial.to_json() for trial in result.trials])
    tuner_results.metadata.update(
        metric=result.metric,
        direction=result.direction,
        sampler=result.sampler,
        n_trials=len(result.trials),
        best_preset=result.preset,
        best_value=result.value,
        elapsed_seconds=result.elapsed_seconds,
        validation=detail,
        validation_split=scored_split,
        rows=rows,
        **{f"n_{state.lower()}": n for state, n in result.counts().items()},
    )
    return result.value


def _check_holdout(data: TrainingData, valid: np.ndarray, fraction: float) -> None:
    """Refuse a holdout that leaves the fit part or the validation part empty, or a class
    out of the fit part (its trials could not predict it)."""
    import numpy as np

    from conveyor.model.validation import check_holdout

    check_holdout(valid, fraction, ". Change the fraction or use validation='cv'")
    if data.classes is not None:
        missing = sorted(set(range(len(data.classes))) - set(np.unique(data.y_train[~valid])))
        if missing:
            raise ValueError(
                f"Classes {[data.classes[i] for i in missing]!r} have every train row in the "
                f"validation part ({fraction:.0%} by row hash). Lower validation_fraction or "
                "use validation='cv' (stratified)"
            )
