"""Iterative XGBoost training: add boosting rounds until the validation ROC AUC stops improving.

    conveyor run pipeline.py                            # German credit, 10 rounds a time
    conveyor run pipeline.py --param rounds=5 --param min_delta=0.002
    conveyor runs show RUN_ID                           # boost[0], boost[1], ... per iteration

Each iteration continues the previous iteration's booster (warm start), scores it on a
validation part of the train split (never on the eval split, which judges the final model)
and decides whether to go on. The loop is bounded: at most ``MAX_ITERATIONS``
iterations, a literal because the IR records a fixed bound (``--param`` cannot change it).
"""

from __future__ import annotations

from boosting import boost, check, score, summarize

import conveyor
from conveyor import pipeline
from conveyor.components.data import example_gen, schema_gen, statistics_gen
from conveyor.components.model import evaluator, transform

MAX_ITERATIONS = 10
"""Upper bound of the loop. It is part of the pipeline's definition (the IR), not a
parameter: every backend must know before the run how many iterations it may schedule."""

EVAL_CONFIG = {"thresholds": [{"metric": "roc_auc", "lower_bound": 0.7}]}
"""The final model must reach a ROC AUC of 0.7 on the eval split to be blessed."""

LABEL = "credit"
"""1 = good credit risk, 2 = bad; the model scores the probability of 2 (bad)."""


@pipeline(name="iterative-boosting")
def iterative_boosting(
    path: str = "data/german_credit.csv",
    rounds: int = 10,
    target: float = 0.8,
    min_delta: float = 0.005,
    seed: int = 0,
) -> None:
    """Train XGBoost in bounded iterations of ``rounds`` rounds each, warm-starting every
    iteration from the last, until the validation ROC AUC reaches ``target`` or improves by
    less than ``min_delta``; then summarise the AUC curve."""
    examples = example_gen(input_pattern=path).outputs["examples"]
    stats = statistics_gen(examples=examples).outputs["statistics"]
    schema = schema_gen(statistics=stats, split="train").outputs["schema"]
    tf = transform(examples=examples, schema=schema, label=LABEL)
    with conveyor.Loop(max_iterations=MAX_ITERATIONS, name="boosting") as loop:
        model_in = loop.carry(initial=None, name="model")  # iteration 0 starts cold
        best_in = loop.carry(initial=0.0, name="best_auc")
        t = boost(
            examples=examples,  # raw: boost and score carve the same validation rows
            schema=schema,
            transform_graph=tf.outputs["transform_graph"],
            label=LABEL,
            init_model=model_in,
            rounds=rounds,
            seed=seed,
        )
        s = score(model=t.outputs["model"], examples=examples)
        c = check(auc=s.outputs["auc"], best_so_far=best_in, target=target, min_delta=min_delta)
        model_in.update(t.outputs["model"])
        best_in.update(c.outputs["best"])
        loop.stop_when(c.outputs["done"])  # a boolean output: stop when it is True
    # after the loop: t's model is the last iteration's, Collected(...) one value per iteration
    summarize(
        model=t.outputs["model"],
        aucs=conveyor.Collected(s.outputs["auc"]),
        reasons=conveyor.Collected(c.outputs["reason"]),
    )
    # the final model judged on the eval split, which nothing above has seen: the evaluator
    # checks that through lineage (a warning in the blessing otherwise)
    evaluator(examples=examples, model=t.outputs["model"], eval_config=EVAL_CONFIG)
