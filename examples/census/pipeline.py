"""Census income: the canonical TFX-style pipeline on census-like data, up to production.

The data is generated (deterministically) by ``bench/make_tabular.py``; ``make run`` writes
``data/census.csv`` first. Spans: put new drops in ``data/span-N/`` and pass
``--param pattern='data/span-{SPAN}/*.csv'`` to always train on the latest one.

    python ../../bench/make_tabular.py --rows 20000 --out data/census.csv
    conveyor run pipeline.py

The tuner picks LightGBM's hyperparameters on a validation part of the train split (20% by
a stable row hash), never on the eval split: the evaluator judges the model on eval, and it
checks through lineage that nothing chose the model on it (a warning otherwise).

The model goes to ``serving/census/<version>/`` and into the model registry, as the next
version of ``census`` with the ``champion`` alias moved to it, only when the evaluator blessed
it (value thresholds overall and per sex, no drop against the production model: the version
``models:/census@champion`` points at) and it passed infra validation; every run writes a
model card (``model_card.html``) either way. ``conveyor models history census`` shows the
alias moves; ``conveyor serve models:/census@champion`` serves the champion.
"""

from __future__ import annotations

from typing import Any

from conveyor import pipeline
from conveyor.components.data import example_gen, example_validator, schema_gen, statistics_gen
from conveyor.components.model import (
    evaluator,
    infra_validator,
    latest_blessed_model,
    model_card_generator,
    pusher,
    trainer,
    transform,
    tuner,
)

SEARCH_SPACE = {
    "lightgbm": {
        "num_leaves": {"type": "int", "low": 4, "high": 32, "log": True},
        "learning_rate": {"type": "float", "low": 0.02, "high": 0.2, "log": True},
        "min_child_samples": {"type": "categorical", "choices": [20, 50, 100]},
    }
}
"""What the tuner searches: a few LightGBM settings (``--param`` can replace it)."""

EVAL_CONFIG = {
    "slices": [
        {"feature_keys": ["sex"]},
        {"feature_keys": ["race"]},
        {"feature_keys": ["sex", "race"]},
        {"buckets": {"age": [30, 45, 60]}},
    ],
    "thresholds": [
        # the model must be good overall and for each sex ...
        {"metric": "roc_auc", "lower_bound": 0.75, "slices": ["overall", "sex=*"]},
        # ... and may not be worse than the production model by more than 0.01
        {"metric": "roc_auc", "change_absolute": -0.01},
    ],
    "min_slice_size": 50,
    "bootstrap_resamples": 200,
    "fairness_features": ["sex", "race"],
}

CARD = {
    "description": "Predicts whether a person's income exceeds $50k a year from census data.",
    "owners": [{"name": "Conveyor examples", "contact": "examples@conveyor.invalid"}],
    "references": ["bench/make_tabular.py (the deterministic census-like generator)"],
    "intended_use": (
        "A teaching example of a production gate: evaluation per slice, fairness gaps, "
        "blessing, infra validation and push. Not for decisions about people."
    ),
    "limitations": [
        "Trained on generated data: its ceiling ROC AUC is about 0.81.",
        "Slices with fewer than 50 eval examples are reported but not judged.",
    ],
    "ethical_considerations": [
        {
            "name": "Sex and race are inputs and sensitive attributes.",
            "mitigation_strategy": "Per-slice thresholds; the fairness view shows the gaps.",
        }
    ],
}


@pipeline(name="census")
def census(
    pattern: str = "data/census.csv",
    search_space: dict[str, Any] = SEARCH_SPACE,
    n_trials: int = 4,
    push_destination: str = "serving/census",
    registered_model: str = "census",
):
    """ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform -> Tuner (on
    a validation part of train) -> Trainer -> Evaluator (on eval, against the registry's
    champion), beside it InfraValidator -> ModelCard -> Pusher (only when both blessed it:
    to the serving folder and the registry, moving ``champion``)."""
    examples = example_gen(input_pattern=pattern).outputs["examples"]
    stats = statistics_gen(examples=examples, slice_by=["sex", "race"]).outputs["statistics"]
    schema = schema_gen(statistics=stats, split="train").outputs["schema"]
    example_validator(statistics=stats, schema=schema, split="eval")
    tf = transform(examples=examples, schema=schema, label="income_gt_50k")
    tuned = tuner(
        examples=tf.outputs["transformed_examples"],
        schema=schema,
        transform_graph=tf.outputs["transform_graph"],
        label="income_gt_50k",
        search_space=search_space,
        n_trials=n_trials,
        validation="holdout",  # the default: 20% of train by row hash, never the eval split
    )
    model = trainer(
        examples=tf.outputs["transformed_examples"],
        schema=schema,
        transform_graph=tf.outputs["transform_graph"],
        label="income_gt_50k",
        hyperparameters_artifact=tuned.outputs["best_hyperparameters"],
    ).outputs["model"]
    # the production model: the version the registry's champion alias points at
    baseline = latest_blessed_model(
        model=model, source="registry", registered_model=registered_model, alias="champion"
    ).outputs["baseline"]
    evaluation = evaluator(
        examples=examples, model=model, baseline_model=baseline, eval_config=EVAL_CONFIG
    )
    # runs beside the evaluator (the pusher needs both blessings)
    infra = infra_validator(model=model, examples=examples)
    model_card_generator(
        model=model,
        evaluation=evaluation.outputs["evaluation"],
        examples=examples,
        blessing=evaluation.outputs["blessing"],
        infra_blessing=infra.outputs["blessing"],
        name="census-income",
        sensitive_features=["sex", "race"],
        **CARD,
    )
    pusher(
        model=model,
        model_blessing=evaluation.outputs["blessing"],
        infra_blessing=infra.outputs["blessing"],
        push_destination=push_destination,
        registered_model=registered_model,
        alias="champion",
    )
