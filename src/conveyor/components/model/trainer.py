"""Trainer: a built-in estimator preset or the user's ``run_fn``, saved with its transform."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conveyor._internal.importing import import_object
from conveyor.dsl import Input, Output, component
from conveyor.execution.context import log_task_metric
from conveyor.execution.data_use import record_data_use
from conveyor.types import Examples, Metrics, Model, Schema
from conveyor.types.model import TransformGraph
from conveyor.types.tuning import HyperParameters

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from conveyor.components.model.data import TrainingData
    from conveyor.data.model import DataSchema
    from conveyor.model.transform import FittedTransform

__all__ = ["TrainerContext", "Validation", "trainer"]


@dataclass(frozen=True)
class Validation:
    """Train rows to fit on (``x_fit``, ``y_fit``) and validation rows (``x_valid``,
    ``y_valid``), with how they were made (``detail``)."""

    x_fit: np.ndarray
    y_fit: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    detail: str


@dataclass
class TrainerContext:
    """What a user ``run_fn(ctx)`` receives; it returns the fitted estimator.

    The estimator is fitted on ``x_train`` (the transformed features, ``feature_names``
    order) and ``y_train``: class indices into ``classes`` for classification, numbers for
    regression. It needs ``predict`` (and ``predict_proba`` for classifiers); Conveyor
    saves it with the transform, so ``conveyor.load_model`` serves it.

    Example:
        >>> def run_fn(ctx):  # doctest: +SKIP
        ...     clf = MyNet(**ctx.hyperparameters)
        ...     for epoch in range(10):
        ...         loss = clf.partial_fit(ctx.x_train, ctx.y_train)
        ...         ctx.log_metric("loss", loss, step=epoch)
        ...     return clf
    """

    train: pa.Table
    eval: pa.Table
    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray
    feature_names: list[str]
    schema: DataSchema
    transform: FittedTransform
    hyperparameters: dict[str, Any]
    label: str
    task: str
    classes: list[Any] | None
    model: Model
    metrics: Metrics
    series: dict[str, list[list[float]]] = field(default_factory=dict)
    carve: Callable[[], Validation] | None = field(default=None, repr=False)
    _validation: Validation | None = field(default=None, repr=False)

    def validation_data(self) -> Validation:
        """Train rows to fit on and validation rows to stop early (or select) on, apart from
        the eval split the model is judged on: the trainer's ``validation`` setting (by
        default 20% of train carved by a stable row hash). Calling it records that this
        step chose on that data (``data_use``), so the Evaluator can check it.

        Raises:
            ValueError: the trainer has no validation data (outside the trainer).
        """
        if self._validation is None:
            if self.carve is None:
                raise ValueError("This context has no validation data; the trainer makes it")
            self._validation = self.carve()
        return self._validation

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        """Record ``value`` of metric ``name`` at ``step`` (a training curve).

        Raises:
            ValueError: the value is NaN or infinite (training diverged).
        """
        points = self.series.setdefault(name, [])
        step = len(points) if step is None else step
        if not math.isfinite(float(value)):
            raise ValueError(
                f"Training diverged: metric {name!r} is {float(value)!r} at step {step}. "
                "Lower the learning rate, scale the features or add regularisation"
            )
        points.append([step, float(value)])
        self.metrics.metadata["series"] = self.series
        log_task_metric(name, float(value), step)  # the task's time series in the store


def _fit_preset(ctx: TrainerContext, preset: str) -> Any:
    from conveyor.model.presets import create_estimator, eval_set_kwargs, uses_early_stopping

    estimator, resolved = create_estimator(preset, ctx.task, ctx.hyperparameters)
    kwargs: dict[str, Any] = {}
    x_fit, y_fit = ctx.x_train, ctx.y_train
    if uses_early_stopping(estimator, resolved.framework):
        # early stopping chooses the number of rounds: it watches validation data, never eval
        part = ctx.validation_data()
        x_fit, y_fit = part.x_fit, part.y_fit
        kwargs = eval_set_kwargs(estimator, resolved.framework, part.x_valid, part.y_valid)
        print(f"early stopping on {part.detail} ({len(part.y_valid)} rows)")
    elif len(ctx.y_eval):  # the eval curve, for the record: nothing is chosen by it
        kwargs = eval_set_kwargs(estimator, resolved.framework, ctx.x_eval, ctx.y_eval)
    try:
        estimator.fit(x_fit, y_fit, **kwargs)
    except Exception as exc:
        raise ValueError(
            f"Training {preset!r} with hyperparameters {ctx.hyperparameters!r} failed: {exc}"
        ) from exc
    curves: dict[str, Any] = {}
    if resolved.framework == "xgboost":
        curves = {f"eval_{k}": v for r in estimator.evals_result().values() for k, v in r.items()}
    elif resolved.framework == "lightgbm":
        curves = {f"eval_{k}": v for r in estimator.evals_result_.values() for k, v in r.items()}
    elif hasattr(estimator, "loss_curve_"):
        curves = {"loss": estimator.loss_curve_}
    for name, values in curves.items():
        for step, value in enumerate(values):
            ctx.log_metric(name, float(value), step)
    return estimator


def _validation(
    data: TrainingData,
    examples: Examples,
    label: str,
    validation: str,
    fraction: float,
    split: str | None,
    train_split: str,
    unseen_labels: str,
) -> Validation:
    from conveyor.components.model.data import split_matrices
    from conveyor.model.validation import check_holdout, describe, holdout_mask

    detail = describe(validation, fraction, 2, split, train_split)
    if validation == "split":
        assert split is not None
        x_valid, y_valid, _ = split_matrices(examples, data, label, split, unseen_labels)
        if len(y_valid) == 0:
            raise ValueError(f"The {split!r} split has no labelled rows to validate on")
        return Validation(data.x_train, data.y_train, x_valid, y_valid, detail)
    valid = holdout_mask(data.train, fraction)
    check_holdout(valid, fraction)
    return Validation(
        data.x_train[~valid], data.y_train[~valid], data.x_train[valid], data.y_train[valid], detail
    )


@component
def trainer(
    examples: Input[Examples],
    schema: Input[Schema],
    model: Output[Model],
    metrics: Output[Metrics],
    label: str,
    transform_graph: Input[TransformGraph] | None = None,
    preset: str = "sklearn:LogisticRegression",
    hyperparameters: dict[str, Any] | None = None,
    run_fn: str | None = None,
    task: str = "auto",
    train_split: str = "train",
    eval_split: str = "eval",
    hyperparameters_artifact: Input[HyperParameters] | None = None,
    unseen_labels: str = "fail",
    validation: str = "holdout",
    validation_fraction: float = 0.2,
    validation_split: str | None = None,
    keep_example_rows: bool = True,
) -> float:
    """Train on ``train_split``, evaluate on ``eval_split``, save the model with its transform.

    ``preset`` names a built-in estimator: ``sklearn:<Estimator>`` (any scikit-learn
    classifier or regressor), ``xgboost`` or ``lightgbm``, built with ``hyperparameters``
    (checked before training). ``run_fn`` (``"module:function"``) replaces it with your code:
    it receives a :class:`TrainerContext` and returns the fitted estimator. ``examples`` may be
    raw (the transform is applied here) or the Transform's ``transformed_examples``; without
    ``transform_graph`` a default transform is fitted on train from the schema. ``task``
    ``auto`` picks classification for string, boolean and small-integer labels.
    ``hyperparameters_artifact`` (a Tuner's ``best_hyperparameters``) replaces ``preset`` and
    ``hyperparameters`` with the tuned ones. Eval rows whose label the train split never had
    fail the step, naming the values and counts; ``unseen_labels="drop"`` leaves them out
    instead. Rows without a label are left out.

    Early stopping (XGBoost's ``early_stopping_rounds``, LightGBM's ``early_stopping_round``)
    watches validation data, never the eval split the model is judged on: by default
    (``validation="holdout"``) the model is fitted on train less a ``validation_fraction``
    carved by a stable row hash and stops on that part; ``validation="split"`` stops on
    ``validation_split``. A ``run_fn`` gets the same data from ``ctx.validation_data()``. The
    step records the data it stopped on (its execution's ``data_use``) for the Evaluator.

    The model keeps five raw train rows as its example rows (``conveyor smoke-test`` sends
    them; a server shows them to whoever has its token); ``keep_example_rows=False`` keeps
    none, for training data that must not travel with the model.

    Returns the main eval metric: ROC AUC (binary), accuracy (multiclass) or RMSE
    (regression); every metric is in ``metrics``, training curves under ``series``, and the
    metrics' metadata says how many rows they were computed on (``train_rows``,
    ``eval_rows``) and which rows were left out, and why (``dropped_rows``).

    Example:
        >>> trainer(examples=tf.outputs["transformed_examples"], schema=sg.outputs["schema"],
        ...         transform_graph=tf.outputs["transform_graph"], label="income_gt_50k",
        ...         preset="xgboost", hyperparameters={"max_depth": 4})  # doctest: +SKIP
    """
    from conveyor.components.model.data import training_data
    from conveyor.model.metrics import evaluate, main_metric
    from conveyor.model.presets import predict_for_task
    from conveyor.model.saved import check_signature, save_model
    from conveyor.model.validation import check_validation

    check_validation(validation, validation_fraction, 2, validation_split, allow_cv=False)
    if hyperparameters_artifact is not None:
        tuned = hyperparameters_artifact.read()
        preset, hyperparameters = tuned["preset"], dict(tuned["hyperparameters"])
    data = training_data(
        examples, schema, label, transform_graph, task, train_split, eval_split, unseen_labels
    )
    if len(data.y_eval) == 0:
        raise ValueError(
            f"The {eval_split!r} split has no labelled rows to evaluate on"
            + (f" (left out: {data.dropped['eval']!r})" if "eval" in data.dropped else "")
        )
    metrics.metadata.update(
        train_rows=len(data.y_train), eval_rows=len(data.y_eval), dropped_rows=data.dropped
    )
    if data.dropped:
        print(f"rows left out: {data.dropped!r}")
    ctx = TrainerContext(
        train=data.train,
        eval=data.eval,
        x_train=data.x_train,
        y_train=data.y_train,
        x_eval=data.x_eval,
        y_eval=data.y_eval,
        feature_names=data.fitted.output_names,
        schema=data.schema,
        transform=data.fitted,
        hyperparameters=dict(hyperparameters or {}),
        label=label,
        task=data.task,
        classes=data.classes,
        model=model,
        metrics=metrics,
    )

    def carve() -> Validation:
        part = _validation(data, examples, label, validation, validation_fraction,
                           validation_split, train_split, unseen_labels)  # fmt: skip
        split = validation_split if validation == "split" else train_split
        record_data_use(examples, split or train_split, "early_stopping", part.detail)
        metrics.metadata.update(
            validation=part.detail, fit_rows=len(part.y_fit), validation_rows=len(part.y_valid)
        )
        return part

    ctx.carve = carve
    if run_fn is not None:
        module, sep, name = run_fn.partition(":")
        if not sep:
            raise ValueError(f"run_fn must be 'module:function', got {run_fn!r}")
        fn: Callable[[TrainerContext], Any] = import_object(module, name)
        estimator = fn(ctx)
        if estimator is None or not hasattr(estimator, "predict"):
            raise TypeError(
                f"run_fn {run_fn!r} returned {type(estimator).__name__}; return the fitted "
                "estimator (an object with predict, and predict_proba for classifiers)"
            )
    else:
        estimator = _fit_preset(ctx, preset)
    prediction, proba = predict_for_task(estimator, ctx.x_eval, data.task)
    scores = evaluate(data.task, data.y_eval, prediction, proba)
    for key, value in scores.items():
        metrics.log_metric(key, value)
    manifest = save_model(
        model.path,
        estimator,
        data.fitted,
        task=data.task,
        label=label,
        classes=data.classes,
        schema=data.schema,
        examples=_raw_rows(data.train, transform_graph) if keep_example_rows else None,
    )
    # refuse a model that does not match its schema (the manifest holds the signature)
    check_signature(manifest.signature, data.schema, model.path)
    key = main_metric(data.task, len(data.classes or []))
    if key not in scores:
        key = "accuracy" if data.task == "classification" else "rmse"
    model.metadata.update(
        framework=manifest.framework,
        preset=None if run_fn else preset,
        run_fn=run_fn,
        task=data.task,
        label=label,
        classes=data.classes,
        main_metric=key,
        eval_score=scores[key],
        eval_rows=len(data.y_eval),
    )
    return scores[key]


def _raw_rows(train: pa.Table, transform_graph: TransformGraph | None) -> Any:
    """Raw training rows to keep as the model's example rows: the train split, or, when the
    examples are transformed, the raw rows the Transform kept beside its graph."""
    if transform_graph is None:
        return train
    from conveyor.model.examples import read_examples

    return read_examples(transform_graph.path)
