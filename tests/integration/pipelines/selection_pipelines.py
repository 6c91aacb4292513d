"""Pipelines whose model is chosen on some data, then judged by the Evaluator: tuning, early
stopping and a stopping rule, on the eval split (biased) or on validation data (clean)."""

from __future__ import annotations

from typing import Any

from conveyor import Input, Model, component, pipeline
from conveyor.components.data import example_gen, schema_gen, statistics_gen
from conveyor.components.model import evaluator, trainer, transform
from conveyor.components.model.tuner import tuner
from conveyor.execution.data_use import record_data_use
from conveyor.types import Examples

SPACE = {
    "sklearn:LogisticRegression": {"C": {"type": "float", "low": 0.01, "high": 10, "log": True}}
}


EARLY_STOPPING = {"n_estimators": 60, "early_stopping_rounds": 5}


@pipeline(name="tuned-then-judged")
def tuned_then_judged(
    input_pattern: str,
    label: str,
    validation: str = "holdout",
    validation_split: str | None = None,
    policy: str = "warn",
):
    """Tune (validation as given), train the best configuration, evaluate on eval."""
    examples = example_gen(input_pattern=input_pattern).outputs["examples"]
    stats = statistics_gen(examples=examples)
    schema = schema_gen(statistics=stats.outputs["statistics"]).outputs["schema"]
    tf = transform(examples=examples, schema=schema, label=label)
    tuned = tuner(
        examples=tf.outputs["transformed_examples"],
        schema=schema,
        transform_graph=tf.outputs["transform_graph"],
        label=label,
        search_space=SPACE,
        n_trials=3,
        n_jobs=1,
        validation=validation,
        validation_split=validation_split,
    )
    model = trainer(
        examples=tf.outputs["transformed_examples"],
        schema=schema,
        transform_graph=tf.outputs["transform_graph"],
        label=label,
        hyperparameters_artifact=tuned.outputs["best_hyperparameters"],
    ).outputs["model"]
    evaluator(examples=examples, model=model, seen_split_policy=policy)


@pipeline(name="early-stopped-then-judged")
def early_stopped_then_judged(
    input_pattern: str,
    label: str,
    validation: str = "holdout",
    validation_split: str | None = None,
    policy: str = "warn",
    hyperparameters: dict[str, Any] = EARLY_STOPPING,
):
    """XGBoost with early stopping (validation as given), evaluated on eval."""
    examples = example_gen(input_pattern=input_pattern).outputs["examples"]
    stats = statistics_gen(examples=examples)
    schema = schema_gen(statistics=stats.outputs["statistics"]).outputs["schema"]
    model = trainer(
        examples=examples,
        schema=schema,
        label=label,
        preset="xgboost",
        hyperparameters=hyperparameters,
        validation=validation,
        validation_split=validation_split,
    ).outputs["model"]
    evaluator(examples=examples, model=model, seen_split_policy=policy)


@component
def pick(model: Input[Model], examples: Input[Examples], split: str = "eval") -> bool:
    """A stand-in for a loop's stopping rule: it decides on the model's score on ``split``."""
    return record_data_use(examples, split, "stopping_rule", f"the {split!r} split")


@pipeline(name="picked-then-judged")
def picked_then_judged(input_pattern: str, label: str, split: str = "eval"):
    """Train, let a later step of the run pick the model on ``split``, evaluate on eval."""
    examples = example_gen(input_pattern=input_pattern).outputs["examples"]
    stats = statistics_gen(examples=examples)
    schema = schema_gen(statistics=stats.outputs["statistics"]).outputs["schema"]
    model = trainer(examples=examples, schema=schema, label=label).outputs["model"]
    chosen = pick(model=model, examples=examples, split=split)
    evaluator(examples=examples, model=model).after(chosen)
