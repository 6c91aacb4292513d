"""Evaluator: metrics overall and per slice, against a baseline, and an explicit blessing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conveyor.components.model.transform import read_split
from conveyor.dsl import Input, Output, component
from conveyor.errors import ArtifactError
from conveyor.execution.context import current_pipeline
from conveyor.execution.data_use import uses_of_split
from conveyor.types import Examples, Model
from conveyor.types.evaluation import ModelBlessing, ModelEvaluation

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from conveyor.model.blessing import Blessing
    from conveyor.model.bootstrap import BootstrapResult, Predictions
    from conveyor.model.evaluation import EvalConfig
    from conveyor.model.saved import LoadedModel

__all__ = ["evaluator"]

FORMAT_VERSION = 1


def _config(eval_config: dict[str, Any] | None) -> EvalConfig:
    from conveyor.model.evaluation import EvalConfig

    try:
        return EvalConfig.from_dict(eval_config or {})
    except (ValueError, TypeError) as exc:
        raise ValueError(f"evaluator eval_config is invalid: {exc}") from exc


def _labels(table: pa.Table, model: LoadedModel) -> tuple[pa.Table, np.ndarray]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    label = model.manifest.label
    if label not in table.column_names:
        raise ArtifactError(
            f"The eval examples have no label column {label!r} (the model's label); "
            f"columns: {table.column_names!r}"
        )
    table = table.filter(pc.is_valid(table.column(label)))
    y = table.column(label)
    if model.manifest.task == "regression":
        return table, np.asarray(pc.cast(y, pa.float64(), safe=False).to_numpy(), dtype=np.float64)
    classes = model.classes or []
    index = pc.index_in(y, value_set=pa.array(classes, type=y.type))
    unknown = int(pc.sum(pc.is_null(index)).as_py() or 0)
    if unknown:
        seen = pc.unique(pc.filter(y, pc.is_null(index))).to_pylist()[:5]
        raise ArtifactError(
            f"{unknown} eval rows have labels the model never saw: {seen!r} (classes "
            f"{classes!r}). Retrain on data that holds them, or filter them out upstream"
        )
    return table, np.asarray(index.to_numpy(zero_copy_only=False), dtype=np.int64)


def _predict(model: LoadedModel, table: pa.Table, who: str) -> Predictions:
    import numpy as np

    from conveyor.model.bootstrap import Predictions

    try:
        if model.manifest.task == "regression":
            return Predictions(np.asarray(model.predict(table), dtype=np.float64))
        if hasattr(model.estimator, "predict_proba"):
            proba = model.predict_proba(table)
            return Predictions(np.argmax(proba, axis=1).astype(np.int64), proba)
        labels = model.predict(table)
    except ArtifactError:
        raise
    except Exception as exc:
        raise ArtifactError(f"The {who} model at {model.path!r} failed to predict: {exc}") from exc
    index = {c: i for i, c in enumerate(model.classes or [])}
    return Predictions(np.asarray([index[v] for v in labels.tolist()], dtype=np.int64))


def _changes(
    slices: dict[str, dict[str, Any]],
    base: dict[str, dict[str, Any]],
    result: BootstrapResult | None,
) -> dict[str, dict[str, Any]]:
    intervals = result.difference_intervals() if result is not None else {}
    out: dict[str, dict[str, Any]] = {}
    for name, entry in slices.items():
        if name not in base:
            continue
        for metric, value in entry["metrics"].items():
            other = base[name]["metrics"].get(metric)
            if isinstance(value, int | float) and isinstance(other, int | float):
                out.setdefault(name, {})[metric] = {
                    "value": float(value) - float(other),
                    "interval": intervals.get(name, {}).get(metric),
                }
    return out


def _model_ref(artifact: Model, model: LoadedModel) -> dict[str, Any]:
    """Where a model came from: a resolved baseline names the original artifact, not the
    resolver's copy (kept as ``copy_uri``)."""
    ref = {
        "uri": artifact.metadata.get("baseline_uri", artifact.uri),
        "fingerprint": artifact.fingerprint,
        "artifact_id": artifact.metadata.get("baseline_artifact_id", artifact.id),
        "framework": model.manifest.framework,
    }
    if "baseline_uri" in artifact.metadata:
        ref["copy_uri"] = artifact.uri
    return ref


def _report(decision: Blessing, overall: dict[str, Any], without_label: int = 0) -> None:
    """The decision in the step's log (and console): why a model was or was not blessed."""
    state = "blessed" if decision.blessed else "NOT blessed"
    main = {k: v for k, v in overall["metrics"].items() if k in ("roc_auc", "accuracy", "rmse")}
    figures = ", ".join(f"{k} {v:.4g}" for k, v in main.items())
    left_out = f" ({without_label} without a label left out)" if without_label else ""
    print(f"Model {state} ({decision.reason}) on {overall['count']} eval rows{left_out}; {figures}")
    for failure in decision.failures:
        print(f"  failed: {failure.message}")
    for warning in decision.warnings:
        print(f"  WARNING: {warning['message']}")
    if decision.forced:
        print(f"  forced: {decision.force_reason}")


def _has_baseline(baseline_model: Model | None) -> bool:
    return baseline_model is not None and baseline_model.metadata.get("resolved", True) is not False


@component
def evaluator(
    examples: Input[Examples],
    model: Input[Model],
    evaluation: Output[ModelEvaluation],
    blessing: Output[ModelBlessing],
    baseline_model: Input[Model] | None = None,
    eval_config: dict[str, Any] | None = None,
    split: str = "eval",
    force_reason: str | None = None,
    seen_split_policy: str = "warn",
) -> bool:
    """Evaluate ``model`` on the ``split`` of the raw ``examples`` and decide its blessing.

    ``eval_config`` is an :class:`~conveyor.model.evaluation.EvalConfig` as JSON: metrics,
    slices (``{"feature_keys": ["sex"]}``, crosses, ``{"buckets": {"age": [30, 50]}}``),
    thresholds (value bounds, change bounds against the baseline, ``significance``),
    ``min_slice_size``, ``first_run_policy``, ``no_thresholds_policy``,
    ``bootstrap_resamples``, ``confidence_level``, ``fairness_metrics``,
    ``fairness_features``. The model is
    applied exactly as served (its bundled transform on the raw rows). ``baseline_model``
    (e.g. :func:`latest_blessed_model`'s output) is evaluated on the same rows; without one
    the first-run policy applies. ``force_reason`` blesses regardless, recorded as FORCED.

    The Evaluator walks the model's lineage for steps that chose it by a score on ``split``
    of these examples (a tuner, early stopping, a loop's stopping rule: their ``data_use``
    records): such figures are optimistic. ``seen_split_policy="warn"`` (default) records a
    warning in the evaluation, the blessing and the run's output; ``"refuse"`` does not
    bless (``NOT_BLESSED_SEEN_SPLIT``) unless forced.

    Every run writes a blessing, blessed or not, with a machine-readable reason; a model
    that is not blessed is a result, not an error. Returns whether it is blessed.

    Example:
        >>> evaluator(examples=gen.outputs["examples"], model=train.outputs["model"],
        ...           baseline_model=base.outputs["baseline"],
        ...           eval_config={"slices": [{"feature_keys": ["sex"]}],
        ...                        "thresholds": [{"metric": "roc_auc", "lower_bound": 0.75},
        ...                                       {"metric": "roc_auc", "change_absolute": -0.01}]}
        ...           )  # doctest: +SKIP
    """
    import numpy as np

    from conveyor.model.blessing import SEEN_SPLIT_POLICIES, decide_blessing
    from conveyor.model.bootstrap import bootstrap_metrics
    from conveyor.model.evaluation import OVERALL, evaluate_slices
    from conveyor.model.fairness import default_fairness_metrics, fairness_report
    from conveyor.model.saved import load_model
    from conveyor.model.slicing import slice_groups

    config = _config(eval_config)
    if seen_split_policy not in SEEN_SPLIT_POLICIES:
        raise ValueError(
            f"seen_split_policy must be one of {list(SEEN_SPLIT_POLICIES)}, "
            f"got {seen_split_policy!r}"
        )
    if examples.metadata.get("transformed"):
        raise ValueError(
            "evaluator needs the raw examples (ExampleGen's 'examples'), not transformed ones: "
            "the model applies its own transform, as in serving"
        )
    candidate = load_model(model.path)
    raw = read_split(examples, split)
    table, truth = _labels(raw, candidate)
    counted = {"read": raw.num_rows, "without_label": raw.num_rows - table.num_rows}
    if len(truth) == 0:
        raise ArtifactError(f"The {split!r} split has no rows with a label to evaluate on")
    task = candidate.manifest.task
    k = len(candidate.classes or []) if task == "classification" else 0
    classes_idx = list(range(k)) if task == "classification" else None
    preds = _predict(candidate, table, "candidate")

    base_model: LoadedModel | None = None
    base_preds: Predictions | None = None
    if baseline_model is not None and _has_baseline(baseline_model):
        base_model = load_model(baseline_model.path)
        if (base_model.manifest.label, base_model.manifest.task) != (
            candidate.manifest.label,
            task,
        ) or base_model.classes != candidate.classes:
            raise ArtifactError(
                f"The baseline model at {baseline_model.uri!r} predicts "
                f"{base_model.manifest.label!r} ({base_model.manifest.task}, classes "
                f"{base_model.classes!r}) but the candidate predicts "
                f"{candidate.manifest.label!r} ({task}, classes {candidate.classes!r}); "
                "compare models of the same task"
            )
        base_preds = _predict(base_model, table, "baseline")

    groups = slice_groups(table, config.slices, len(truth))  # one slicing for every use

    def slices_of(p: Predictions) -> dict[str, dict[str, Any]]:
        return evaluate_slices(
            table, truth, p.pred, p.proba, config, task=task, classes=classes_idx, groups=groups
        )

    slices = slices_of(preds)
    base_slices = slices_of(base_preds) if base_preds is not None else None
    boot: BootstrapResult | None = None
    if config.bootstrap_resamples:
        rows = {OVERALL: np.arange(len(truth)), **{g.name: g.rows for g in groups}}
        boot = bootstrap_metrics(
            task,
            truth,
            preds,
            rows,
            baseline=base_preds,
            num_classes=k,
            metrics=config.metrics,
            resamples=config.bootstrap_resamples,
            confidence=config.confidence_level,
            seed=config.bootstrap_seed,
        )
    if boot is not None:
        intervals = boot.intervals()
        for name, entry in slices.items():
            entry["intervals"] = intervals.get(name, {})
    fairness = fairness_report(
        slices,
        config.fairness_metrics or default_fairness_metrics(task, k),
        config.fairness_features,
    )
    seen = uses_of_split(model, examples, split) or []
    decision: Blessing = decide_blessing(
        slices,
        base_slices,
        config,
        force_reason=force_reason,
        differences=boot.differences if boot is not None else None,
        seen_split=seen,
        seen_split_policy=seen_split_policy,
    )
    pipeline = current_pipeline()
    document: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "task": task,
        "label": candidate.manifest.label,
        "classes": candidate.classes,
        "split": split,
        "rows": counted,
        "config": config.to_dict(),
        "model": _model_ref(model, candidate),
        "baseline": None,
        "bootstrap": None
        if boot is None
        else {
            "resamples": config.bootstrap_resamples,
            "confidence": config.confidence_level,
            "seed": config.bootstrap_seed,
        },
        "slices": slices,
        "changes": {},
        "fairness": fairness,
        "seen_split": seen,
        "blessing": decision.to_dict(),
    }
    base_ref = None
    if base_model is not None and baseline_model is not None and base_slices is not None:
        base_ref = _model_ref(baseline_model, base_model)
        document["baseline"] = {**base_ref, "slices": base_slices}
        document["changes"] = _changes(slices, base_slices, boot)
    evaluation.write(document)
    overall = slices[OVERALL]
    evaluation.metadata.update(
        {k_: v for k_, v in overall["metrics"].items() if isinstance(v, int | float)},
        count=overall["count"],
        slices=len(slices),
        blessed=decision.blessed,
        seen_split=len(seen),
        rows_without_label=counted["without_label"],
    )
    blessing.write(
        {
            **decision.to_dict(),
            "model": document["model"],
            "baseline": base_ref,
            "pipeline": pipeline,
        }
    )
    _report(decision, slices[OVERALL], counted["without_label"])
    marker = "BLESSED" if decision.blessed else "NOT_BLESSED"
    with open(f"{blessing.path}/{marker}", "w", encoding="utf-8"):
        pass
    blessing.metadata.update(
        blessed=decision.blessed,
        reason=decision.reason,
        failures=len(decision.failures),
        forced=decision.forced,
        warnings=len(decision.warnings),
        pipeline=pipeline,
        model_uri=model.uri,
        model_fingerprint=model.fingerprint,
        model_artifact_id=model.id,
        baseline_fingerprint=None if base_ref is None else base_ref["fingerprint"],
    )
    return decision.blessed
