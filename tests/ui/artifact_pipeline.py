"""The pipeline the artifact, lineage and model pages are tested on: penguins through
statistics, schema, anomalies, a model, its evaluation (per slice, with intervals), its card
and a push into the registry (small: 344 rows, scikit-learn)."""

from __future__ import annotations

import os

from conveyor import pipeline
from conveyor.components.data import example_gen, example_validator, schema_gen, statistics_gen
from conveyor.components.model import evaluator, pusher, trainer
from conveyor.components.model.model_card import model_card_generator

PENGUINS = os.environ.get("CONVEYOR_TEST_PENGUINS", "penguins.csv")
DRIFTED = os.environ.get("CONVEYOR_TEST_DRIFTED", "penguins_drift.csv")


@pipeline(name="penguin-gate")
def penguin_gate(input_pattern: str = PENGUINS, drifted_pattern: str = DRIFTED):
    """Ingest, describe, validate (a drifted copy: anomalies), train, evaluate, document,
    push and register."""
    examples = example_gen(input_pattern=input_pattern).outputs["examples"]
    stats = statistics_gen(examples=examples).outputs["statistics"]
    schema = schema_gen(statistics=stats, split="train").outputs["schema"]
    drifted = example_gen(input_pattern=drifted_pattern).outputs["examples"]
    drifted_stats = statistics_gen(examples=drifted).outputs["statistics"]
    example_validator(statistics=drifted_stats, schema=schema, split="eval")
    model = trainer(examples=examples, schema=schema, label="species").outputs["model"]
    ev = evaluator(
        examples=examples,
        model=model,
        eval_config={
            "slices": [{"feature_keys": ["island"]}],
            "thresholds": [{"metric": "accuracy", "lower_bound": 0.8}],
            "min_slice_size": 10,
            "bootstrap_resamples": 30,
        },
    )
    model_card_generator(
        model=model,
        evaluation=ev.outputs["evaluation"],
        blessing=ev.outputs["blessing"],
        examples=examples,
        name="Penguin species",
        intended_use="Tests of the UI's artifact pages.",
    )
    pusher(
        model=model,
        model_blessing=ev.outputs["blessing"],
        registered_model="ui-penguins",
        alias="champion",
    )
