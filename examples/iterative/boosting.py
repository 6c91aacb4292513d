"""The steps of the iterative-training loop: boost, score, check, and the summary after it.

``boost`` adds rounds to the previous iteration's XGBoost booster (warm start) and saves the
result in Conveyor's saved-model format, so every iteration's model is a servable artifact
(``conveyor.load_model``). ``score`` measures it on a validation part of the train split
(``boost`` never trains on it), ``check`` decides whether another iteration is worth it, and
``summarize`` writes the AUC curve once the loop is over.

The stopping rule chooses the model, so it must not look at the eval split: a model chosen
on the eval split and judged on it looks better than it is. The validation part is carved
from train by a stable row hash (:func:`conveyor.model.validation.holdout_mask`): ``boost``
leaves those rows out and ``score`` measures exactly them. ``score`` records the data its
AUC came from (``record_data_use``), so an Evaluator judging the final model finds it through
lineage and warns if it is asked to bless on that same data.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from conveyor import Input, Markdown, Metrics, Model, Output, component
from conveyor.components.model.data import training_data
from conveyor.components.model.transform import read_split
from conveyor.execution.data_use import record_data_use
from conveyor.model.saved import check_signature, load_model, manifest_json, save_model
from conveyor.model.validation import holdout_mask
from conveyor.types import Examples, Schema
from conveyor.types.model import TransformGraph

__all__ = [
    "VALIDATION_FRACTION",
    "Decision",
    "Score",
    "Summary",
    "boost",
    "check",
    "score",
    "summarize",
]

VALIDATION_FRACTION = 0.2
"""The part of the train split (by row hash) that ``boost`` leaves out and ``score`` uses."""

REASON_TARGET_REACHED = "target_reached"
REASON_NO_IMPROVEMENT = "no_improvement"
REASON_IMPROVING = "improving"
REASON_MAX_ITERATIONS = "max_iterations"
"""Why the loop stopped: the reasons ``check`` gives, and the loop's own bound."""


def _previous_booster(init_model: Model | None, features: list[str]) -> xgb.Booster | None:
    """The booster to continue from, refused when it was trained on other features."""
    if init_model is None:
        return None
    manifest = manifest_json(init_model.path)
    if manifest.get("framework") != "xgboost":
        raise ValueError(
            f"init_model {init_model.uri!r} is a {manifest.get('framework')!r} model; warm "
            "start continues an XGBoost model saved by boost. Connect boost's model output"
        )
    if manifest.get("features") != features:
        raise ValueError(
            f"init_model {init_model.uri!r} was trained on other features than this transform "
            "produces; warm start needs the same transform_graph in every iteration"
        )
    return xgb.Booster(model_file=os.path.join(init_model.path, manifest["model_file"]))


@component
def boost(
    examples: Input[Examples],
    schema: Input[Schema],
    transform_graph: Input[TransformGraph],
    model: Output[Model],
    label: str,
    init_model: Input[Model] | None = None,
    rounds: int = 10,
    learning_rate: float = 0.1,
    max_depth: int = 3,
    subsample: float = 0.8,
    seed: int = 0,
    validation_fraction: float = VALIDATION_FRACTION,
) -> int:
    """Train ``rounds`` more XGBoost rounds on top of ``init_model``; return the total rounds.

    Trains on the train split less its validation part (``validation_fraction`` of the rows,
    by a stable row hash), which ``score`` measures the model on.

    Without ``init_model`` (the loop's first iteration) training starts from scratch. The
    booster is saved with its transform as a Conveyor model folder; the artifact's metadata
    records ``total_rounds``, ``rounds_added`` and the model it continued (``warm_start_from``).

    Args:
        examples: ExampleGen's raw examples (the transform is applied here), so the
            validation rows are the ones ``score`` hashes.
        schema: the data schema (the label's type and the model's signature).
        transform_graph: the fitted transform, bundled with the model.
        label: the binary label column.
        init_model: the previous iteration's model, continued (warm start).
        rounds: boosting rounds to add.
        learning_rate: XGBoost ``eta``.
        max_depth: depth of each tree.
        subsample: fraction of rows each tree sees (drawn with ``seed``).
        seed: random seed, so every iteration is reproducible (and cacheable).
        validation_fraction: the part of train left out for ``score``.

    Example:
        >>> t = boost(examples=tf.outputs["transformed_examples"], schema=schema,
        ...           transform_graph=tf.outputs["transform_graph"], label="credit",
        ...           init_model=model_in, rounds=10)  # doctest: +SKIP
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds!r}")
    data = training_data(
        examples, schema, label, transform_graph, task="classification", eval_split=None
    )
    fit = ~holdout_mask(data.train, validation_fraction)
    if len(data.classes or []) != 2:
        raise ValueError(
            f"boost trains a binary classifier, but label {label!r} has the classes "
            f"{data.classes!r} in train. Pick a label with two values"
        )
    previous = _previous_booster(init_model, data.fitted.output_names)
    params: dict[str, Any] = {
        "objective": "binary:logistic",
        "eta": learning_rate,
        "max_depth": max_depth,
        "subsample": subsample,
        "seed": seed,
        "nthread": 1,  # tiny data: threads cost more than they save, and steps share the cores
    }
    booster = xgb.train(
        params,
        xgb.DMatrix(data.x_train[fit], label=data.y_train[fit]),
        num_boost_round=rounds,
        xgb_model=previous,
    )
    manifest = save_model(
        model.path, booster, data.fitted, task="classification", label=label, classes=data.classes
    )
    check_signature(manifest.signature, data.schema, model.path)
    total = booster.num_boosted_rounds()
    model.metadata.update(
        framework=manifest.framework,
        task="classification",
        label=label,
        classes=data.classes,
        total_rounds=total,
        rounds_added=rounds,
        warm_start_from=init_model.uri if init_model is not None else None,
        hyperparameters={k: v for k, v in params.items() if k != "nthread"},
        fit_rows=int(fit.sum()),
    )
    start = f"warm start from {total - rounds} rounds" if previous is not None else "cold start"
    print(f"{start}: trained {rounds} rounds, {total} in all")
    return total


class Score(NamedTuple):
    """The validation ROC AUC of one iteration's model."""

    auc: float


@component
def score(
    model: Input[Model],
    examples: Input[Examples],
    split: str = "train",
    validation_fraction: float | None = VALIDATION_FRACTION,
) -> Score:
    """ROC AUC of ``model`` on the validation part of ``split`` of the raw ``examples``:
    ``validation_fraction`` of its rows by a stable row hash (``None``: every row). The model
    applies its own bundled transform, exactly as serving does. The loop's stopping rule
    decides on this AUC, so the step records the data it came from (``data_use``).

    Example:
        >>> s = score(model=t.outputs["model"], examples=gen.outputs["examples"])  # doctest: +SKIP
    """
    loaded = load_model(model.path)
    classes = loaded.classes or []
    if loaded.manifest.task != "classification" or len(classes) != 2:
        raise ValueError(
            f"score measures binary classifiers; the model at {model.uri!r} is a "
            f"{loaded.manifest.task} model with the classes {classes!r}"
        )
    label = loaded.manifest.label
    table = read_split(examples, split)
    if label not in table.column_names:
        raise ValueError(f"Split {split!r} has no label column {label!r}: {table.column_names!r}")
    table = table.filter(pc.is_valid(table.column(label)))
    where = f"the {split!r} split"
    if validation_fraction is not None:
        table = table.filter(pa.array(holdout_mask(table, validation_fraction)))
        where = f"{validation_fraction:.0%} of the {split!r} split, by row hash"
    column = table.column(label)
    positive = pc.equal(column, pa.scalar(classes[1], type=column.type))
    truth = np.asarray(positive.to_numpy(zero_copy_only=False), dtype=bool)
    if truth.all() or not truth.any():
        raise ValueError(
            f"{where} holds only one class of {label!r}; ROC AUC needs both. "
            "Use more validation rows"
        )
    auc = float(roc_auc_score(truth, loaded.predict_proba(table)[:, 1]))
    record_data_use(examples, split, "stopping_rule", where)
    rounds = model.metadata.get("total_rounds", "?")
    print(f"validation ROC AUC {auc:.4f} after {rounds} rounds ({len(truth)} rows of {where})")
    return Score(auc)


class Decision(NamedTuple):
    """What ``check`` decided: stop or go on, the best AUC so far, and why."""

    done: bool
    best: float
    reason: str


@component
def check(
    auc: float, best_so_far: float, target: float = 0.8, min_delta: float = 0.005
) -> Decision:
    """Stop when ``auc`` reaches ``target`` or beats ``best_so_far`` by less than ``min_delta``.

    Returns ``done``, the new best AUC (carried into the next iteration) and the reason:
    ``target_reached``, ``no_improvement`` or ``improving`` (go on).

    Example:
        >>> check.python_func(auc=0.75, best_so_far=0.74, target=0.8, min_delta=0.005)
        Decision(done=False, best=0.75, reason='improving')
    """
    gain = auc - best_so_far
    new_best = max(auc, best_so_far)
    if auc >= target:
        print(f"stop: ROC AUC {auc:.4f} reached the target {target}")
        return Decision(True, new_best, REASON_TARGET_REACHED)
    if gain < min_delta:
        print(
            f"stop: ROC AUC {auc:.4f} changed the best {best_so_far:.4f} by {gain:+.4f}, "
            f"less than min_delta {min_delta}"
        )
        return Decision(True, new_best, REASON_NO_IMPROVEMENT)
    print(
        f"continue: ROC AUC {auc:.4f} beats the best so far ({best_so_far:.4f}) by {gain:+.4f}; "
        f"target {target}"
    )
    return Decision(False, new_best, REASON_IMPROVING)


class Summary(NamedTuple):
    """Outcome of the loop: why it stopped, how many iterations ran, the last model's AUC."""

    stop_reason: str
    iterations: int
    final_auc: float


def curve_markdown(aucs: list[float], reasons: list[str], rounds: int, model_uri: str) -> str:
    """The AUC curve as a Markdown table, one row per iteration."""
    lines = [
        "# Iterative XGBoost training",
        "",
        "| iteration | rounds | validation ROC AUC | change | decision |",
        "|---:|---:|---:|---:|---|",
    ]
    previous: float | None = None
    for i, (auc, reason) in enumerate(zip(aucs, reasons, strict=True)):
        change = "" if previous is None else f"{auc - previous:+.4f}"
        lines.append(f"| {i} | {(i + 1) * rounds} | {auc:.4f} | {change} | {reason} |")
        previous = auc
    best = int(np.argmax(aucs))
    lines += [
        "",
        f"Best: iteration {best} (ROC AUC {aucs[best]:.4f}). Last model: `{model_uri}`.",
    ]
    return "\n".join(lines) + "\n"


@component
def summarize(
    model: Input[Model],
    aucs: list[float],
    reasons: list[str],
    report: Output[Markdown],
    metrics: Output[Metrics],
) -> Summary:
    """Write the AUC curve of every iteration (``report``) and its figures (``metrics``).

    ``aucs`` and ``reasons`` hold one value per iteration (``conveyor.Collected``); a last
    reason of ``improving`` means the loop ran out of iterations (``max_iterations``).

    Example:
        >>> summarize(model=t.outputs["model"], aucs=conveyor.Collected(s.outputs["auc"]),
        ...           reasons=conveyor.Collected(c.outputs["reason"]))  # doctest: +SKIP
    """
    if not aucs or len(aucs) != len(reasons):
        raise ValueError(
            f"summarize needs one AUC and one reason per iteration, got {len(aucs)} AUCs and "
            f"{len(reasons)} reasons"
        )
    stop = REASON_MAX_ITERATIONS if reasons[-1] == REASON_IMPROVING else reasons[-1]
    total_rounds = int(model.metadata.get("total_rounds", 0))
    rounds = total_rounds // len(aucs)
    report.write_text(curve_markdown(list(aucs), list(reasons), rounds, model.uri))
    report.metadata.update(stop_reason=stop, iterations=len(aucs))
    metrics.log_metric("iterations", len(aucs))
    metrics.log_metric("total_rounds", total_rounds)
    metrics.log_metric("first_auc", aucs[0])
    metrics.log_metric("final_auc", aucs[-1])
    metrics.log_metric("best_auc", max(aucs))
    print(f"stopped after {len(aucs)} iterations ({stop}): ROC AUC {aucs[0]:.4f} -> {aucs[-1]:.4f}")
    return Summary(stop, len(aucs), float(aucs[-1]))
