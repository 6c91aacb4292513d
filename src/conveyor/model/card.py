"""The model card as data: Model Card Toolkit fields built from an evaluation, data and text.

:func:`build_model_card` is pure (dicts and Arrow tables in, a JSON-ready dict out): the
``ModelEvaluation`` document gives the metrics per slice, their bootstrap intervals, the
fairness gaps and the blessing decision; the train and eval tables give row counts and the
label distribution per value of each sensitive feature; :class:`ModelCardText` carries what
only people can write (intended use, limitations, ethical considerations, owners).

The card has the Model Card Toolkit's sections (``model_details``, ``model_parameters``,
``quantitative_analysis``, ``considerations``; metric values and interval bounds are strings,
as in that schema; graphics are base64 SVG) and a ``conveyor`` section: run, decision, infra
validation, fairness, baseline, slice sizes, confusion matrix and the lineage commands.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from conveyor.model.card_html import card_charts
from conveyor.model.evaluation import OVERALL, slice_matches
from conveyor.model.slicing import column_codes

__all__ = [
    "SCHEMA_VERSION",
    "ModelCardText",
    "build_model_card",
    "class_distribution",
    "default_sensitive_features",
]

SCHEMA_VERSION = "0.0.2"
"""The Model Card Toolkit schema version whose fields the card follows."""

MAX_VALUES = 20  # distinct values of a sensitive feature before the rarest become "(other)"
_HEADLINE = {
    "classification": ("roc_auc", "accuracy", "f1", "recall", "precision", "log_loss"),
    "regression": ("rmse", "mae", "r2", "mape"),
}
_REASONS = {
    "BLESSED": "Every threshold held against the baseline model.",
    "NOT_BLESSED_THRESHOLDS": "Some thresholds failed (listed below).",
    "NO_THRESHOLDS_CONFIGURED": "No thresholds are configured; the no-thresholds policy decided.",
    "FIRST_RUN_VALUE_THRESHOLDS_ONLY": "No baseline model yet: the value thresholds held; "
    "change thresholds were skipped.",
    "FIRST_RUN_BLOCKED": "No baseline model yet, and the first-run policy blocks blessing.",
    "NOT_BLESSED_SEEN_SPLIT": "The split the model was judged on also chose it (tuning, "
    "early stopping or a stopping rule), and the policy refuses such a blessing.",
    "FORCED": "Blessed by hand, whatever the thresholds say.",
}
_SPDX = re.compile(r"^[A-Za-z0-9.+-]+$")
_BOUNDS = (("lower_bound", ">="), ("upper_bound", "<="))
_CHANGES = (("change_absolute", "change"), ("change_relative", "relative change"))


@dataclass(frozen=True)
class ModelCardText:
    """What people write about a model: the parts of the card no metadata can give.

    ``owners`` are ``{"name", "contact"}``; ``ethical_considerations`` are ``{"name",
    "mitigation_strategy"}`` (a risk and what was done about it); ``licenses`` are SPDX
    identifiers (``"Apache-2.0"``) or a license's text.

    Raises:
        ValueError: an owner or an ethical consideration without a name, or unknown keys.

    Example:
        >>> ModelCardText(name="income", owners=[{"name": "Risk team"}]).owners[0]["name"]
        'Risk team'
    """

    name: str = ""
    version: str = ""
    description: str = ""
    owners: Sequence[Mapping[str, str]] = ()
    references: Sequence[str] = ()
    intended_use: str = ""
    users: Sequence[str] = ()
    limitations: Sequence[str] = ()
    tradeoffs: Sequence[str] = ()
    ethical_considerations: Sequence[Mapping[str, str]] = ()
    licenses: Sequence[str] = ()
    citations: Sequence[str] = ()

    def __post_init__(self) -> None:
        owners = _records("owners", self.owners, ("name", "contact"))
        risks = _records(
            "ethical_considerations", self.ethical_considerations, ("name", "mitigation_strategy")
        )
        object.__setattr__(self, "owners", owners)
        object.__setattr__(self, "ethical_considerations", risks)
        for key in ("references", "users", "limitations", "tradeoffs", "licenses", "citations"):
            values = getattr(self, key)
            if isinstance(values, str):
                raise ValueError(f"Model card {key!r} takes a list of texts, got {values!r}")
            object.__setattr__(self, key, tuple(str(v) for v in values if str(v).strip()))


def _records(
    field: str, items: Sequence[Mapping[str, str]], keys: tuple[str, ...]
) -> tuple[dict[str, str], ...]:
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or set(item) - set(keys):
            raise ValueError(f"Model card {field}[{i}] must have only keys {list(keys)}: {item!r}")
        if not str(item.get("name", "")).strip():
            raise ValueError(f"Model card {field}[{i}] needs a 'name', got {dict(item)!r}")
        out.append({k: str(item[k]) for k in keys if item.get(k) is not None})
    return tuple(out)


def class_distribution(
    table: pa.Table,
    feature: str,
    label: str | None,
    *,
    buckets: Sequence[float] | None = None,
    max_values: int = MAX_VALUES,
) -> dict[str, dict[str, int]]:
    """Rows per value of ``feature`` and per label value: ``{value: {label: count}}``.

    Values are spelled as in evaluation slice names (``null`` for missing; ``buckets``
    boundaries give ``"[18,30)"``); without ``label`` (regression) each value counts its
    ``rows``. Beyond ``max_values`` values the least frequent become ``"(other)"``.

    Raises:
        ValueError: ``feature`` or ``label`` is not a column of ``table``.

    Example:
        >>> t = pa.table({"sex": ["F", "M", "F"], "y": [1, 0, 0]})
        >>> class_distribution(t, "sex", "y")
        {'F': {'0': 1, '1': 1}, 'M': {'0': 1}}
    """
    for column in (feature, label):
        if column is not None and column not in table.column_names:
            raise ValueError(
                f"Column {column!r} is not in the data; columns: {table.column_names}. "
                "Name a column of the examples (sensitive_features, or the label)"
            )
    f_codes, f_labels = column_codes(table.column(feature), buckets)
    l_codes, l_labels = (
        (np.zeros(table.num_rows, dtype=np.int64), ["rows"])
        if label is None
        else column_codes(table.column(label))
    )
    pairs = pa.table({"f": f_codes, "l": l_codes})
    grouped = pairs.group_by(["f", "l"]).aggregate([([], "count_all")])
    counts: dict[str, dict[str, int]] = {}
    for f, lab, n in zip(*(grouped.column(i).to_pylist() for i in range(3)), strict=True):
        per = counts.setdefault(f_labels[f], {})
        per[l_labels[lab]] = per.get(l_labels[lab], 0) + int(n)
    if len(counts) > max_values:
        ranked = sorted(counts, key=lambda v: (-sum(counts[v].values()), v))
        other: dict[str, int] = {}
        for value in ranked[max_values - 1 :]:
            for key, n in counts.pop(value).items():
                other[key] = other.get(key, 0) + n
        counts["(other)"] = other
    return {v: dict(sorted(counts[v].items())) for v in sorted(counts)}


def _number(value: Any) -> str | None:
    """A metric value as the schema's string; None for what is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return None
    return repr(float(value)) if isinstance(value, float | np.floating) else str(int(value))


def _json_safe(value: Any) -> Any:
    """Strict JSON: non-finite floats become their text (``"inf"``), tuples lists."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value) if isinstance(value, float) and not math.isfinite(value) else value


def _threshold_text(slice_name: str, metric: str, thresholds: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for t in thresholds:
        patterns = t.get("slices") or [OVERALL]
        if t.get("metric") != metric or not any(slice_matches(slice_name, p) for p in patterns):
            continue
        parts += [f"{op} {t[k]}" for k, op in _BOUNDS if t.get(k) is not None]
        sign = "<=" if t.get("direction") == "lower_is_better" else ">="
        parts += [f"{what} {sign} {t[k]}" for k, what in _CHANGES if t.get(k) is not None]
    return "; ".join(parts)


def _performance_metrics(evaluation: Mapping[str, Any]) -> list[dict[str, Any]]:
    thresholds = (evaluation.get("config") or {}).get("thresholds") or []
    out = []
    for slice_name, entry in (evaluation.get("slices") or {}).items():
        intervals = entry.get("intervals") or {}
        for metric, value in (entry.get("metrics") or {}).items():
            if (text := _number(value)) is None:
                continue
            item: dict[str, Any] = {"type": metric, "value": text, "slice": slice_name}
            bounds = intervals.get(metric)
            if isinstance(bounds, list | tuple) and len(bounds) == 2:
                low, high = _number(bounds[0]), _number(bounds[1])
                if low is not None and high is not None:
                    item["confidence_interval"] = {"lower_bound": low, "upper_bound": high}
            if threshold := _threshold_text(slice_name, metric, thresholds):
                item["threshold"] = threshold
            out.append(item)
    return out


def default_sensitive_features(evaluation: Mapping[str, Any]) -> list[str]:
    """The columns a card describes the data by when none are named: the evaluation's
    fairness features, else its slice columns.

    Example:
        >>> default_sensitive_features({"config": {"slices": [{"feature_keys": ["sex"]}]}})
        ['sex']
    """
    specs = (evaluation.get("config") or {}).get("slices") or []
    found = [c for s in specs for c in (*(s.get("feature_keys") or ()), *(s.get("buckets") or {}))]
    preferred = list(((evaluation.get("fairness") or {}).get("features")) or {})
    return list(dict.fromkeys(preferred or found))


def _buckets(evaluation: Mapping[str, Any]) -> dict[str, list[float]]:
    """The bucket boundaries the evaluation sliced numeric columns by."""
    specs = (evaluation.get("config") or {}).get("slices") or []
    return {c: [float(b) for b in v] for s in specs for c, v in (s.get("buckets") or {}).items()}


def _headline(evaluation: Mapping[str, Any], task: str) -> list[str]:
    """Up to six metrics worth a chart: thresholded, then fairness, then the usual ones."""
    overall = ((evaluation.get("slices") or {}).get(OVERALL) or {}).get("metrics") or {}
    wanted = [t.get("metric") for t in (evaluation.get("config") or {}).get("thresholds") or []]
    wanted += list((evaluation.get("fairness") or {}).get("metrics") or [])
    wanted += list(_HEADLINE.get(task, ()))
    return [m for m in dict.fromkeys(wanted) if m and _number(overall.get(m)) is not None][:6]


def _dataset(
    name: str,
    table: pa.Table,
    label: str | None,
    features: Sequence[str],
    buckets: Mapping[str, Sequence[float]],
    link: str | None,
) -> dict[str, Any]:
    present = [f for f in features if f in table.column_names]
    missing = [f for f in features if f not in table.column_names]
    description = f"Split {name!r}: {table.num_rows:,} rows."
    if missing:
        description += f" Not in this split: {', '.join(missing)}."
    distribution = {f: class_distribution(table, f, label, buckets=buckets.get(f)) for f in present}
    out: dict[str, Any] = {"name": name, "description": description, "rows": table.num_rows}
    out |= {"sensitive": {"sensitive_data": present}, "class_distribution": distribution}
    return out | ({"link": link} if link else {})


def _blessing(evaluation: Mapping[str, Any], blessing: Mapping[str, Any] | None) -> dict[str, Any]:
    decision = {**(evaluation.get("blessing") or {}), **(blessing or {})}
    reason, blessed = decision.get("reason"), decision.get("blessed")
    explanation = _REASONS.get(str(reason), "") if reason else "No decision was recorded."
    if decision.get("forced") and decision.get("force_reason"):
        explanation += f" Reason given: {decision['force_reason']}"
    return {
        "blessed": None if blessed is None else bool(blessed),
        "reason": reason,
        "explanation": explanation,
        # blessing metadata counts failures; the document lists them
        "failures": [f for f in decision.get("failures") or [] if isinstance(f, Mapping)]
        if isinstance(decision.get("failures"), list)
        else [],
        "skipped": list(decision.get("skipped") or []),
        "forced": bool(decision.get("forced")),
        "force_reason": decision.get("force_reason"),
        "has_baseline": bool(decision.get("has_baseline", evaluation.get("baseline"))),
    }


def _notes(evaluation: Mapping[str, Any]) -> list[str]:
    """Limitations the evaluation itself shows: the judged split also chose the model, slices
    too small to judge, the largest gap."""
    notes = []
    warnings = ((evaluation.get("blessing") or {}).get("warnings")) or []
    notes += [str(w["message"]) for w in warnings if isinstance(w, Mapping) and w.get("message")]
    small = [n for n, e in (evaluation.get("slices") or {}).items() if e.get("too_small")]
    if small:
        size = (evaluation.get("config") or {}).get("min_slice_size", "?")
        notes.append(
            f"Slices with fewer than {size} eval examples were reported but not judged: "
            f"{', '.join(small)}."
        )
    largest = (evaluation.get("fairness") or {}).get("largest")
    if largest and isinstance(largest.get("gap"), int | float):
        notes.append(
            f"Largest gap across {largest.get('feature')} values: {largest.get('metric')} "
            f"differs by {float(largest['gap']):.3g} between {largest.get('max_slice')} and "
            f"{largest.get('min_slice')}."
        )
    return notes


def _conveyor(
    evaluation: Mapping[str, Any],
    info: Mapping[str, Any],
    run: Mapping[str, Any],
    features: list[str],
    blessing: Mapping[str, Any] | None,
    infra_blessing: Mapping[str, Any] | None,
    commands: list[str],
) -> dict[str, Any]:
    slices = evaluation.get("slices") or {}
    task, classes = str(info["task"]), list(info["classes"])
    matrix = ((slices.get(OVERALL) or {}).get("metrics") or {}).get("confusion_matrix")
    baseline = dict(evaluation.get("baseline") or {})
    if baseline:
        base_slices = baseline.pop("slices", None) or {}
        baseline["overall"] = (base_slices.get(OVERALL) or {}).get("metrics")
    out = {
        "format_version": 1,
        "run": {k: run.get(k) for k in ("run_id", "pipeline", "execution_id")},
        "model": {k: info.get(k) for k in ("artifact_id", "uri", "fingerprint", "framework")},
        "task": task,
        "label": info["label"],
        "classes": classes,
        "eval_split": evaluation.get("split"),
        "bootstrap": evaluation.get("bootstrap"),
        "sensitive_features": features,
        "headline_metrics": _headline(evaluation, task),
        "slices": [
            {"name": n, "count": e.get("count"), "too_small": bool(e.get("too_small"))}
            for n, e in slices.items()
        ],
        "confusion_matrix": {"labels": [str(c) for c in classes], "matrix": matrix}
        if isinstance(matrix, list) and matrix
        else None,
        "blessing": _blessing(evaluation, blessing),
        "infra_blessing": dict(infra_blessing) if infra_blessing is not None else None,
        "fairness": evaluation.get("fairness"),
        "baseline": baseline or None,
        "changes": evaluation.get("changes") or {},
        "notes": _notes(evaluation),
        "lineage": commands,
    }
    return dict(_json_safe(out))


def build_model_card(
    evaluation: Mapping[str, Any],
    *,
    text: ModelCardText | None = None,
    model: Mapping[str, Any] | None = None,
    data: Mapping[str, pa.Table] | None = None,
    data_links: Mapping[str, str] | None = None,
    sensitive_features: Sequence[str] | None = None,
    blessing: Mapping[str, Any] | None = None,
    infra_blessing: Mapping[str, Any] | None = None,
    run: Mapping[str, Any] | None = None,
    date: str = "",
) -> dict[str, Any]:
    """The model card of an evaluated model, as Model Card Toolkit JSON plus ``conveyor``.

    Args:
        evaluation: the ``ModelEvaluation`` document (``evaluation.json``).
        text: what people wrote (name, intended use, limitations, owners, ...).
        model: what is known of the model: ``uri``, ``artifact_id``, ``fingerprint``,
            ``framework``, ``framework_version``, ``preset``, ``run_fn``, ``task``,
            ``label``, ``classes``, ``inputs`` (column names); the evaluation's ``model``
            fills the gaps.
        data: split name -> table (``{"train": ..., "eval": ...}``) with the label and the
            sensitive features, for row counts and label distributions.
        data_links: split name -> where the split lives.
        sensitive_features: columns to describe the data by; default the evaluation's
            fairness features, else its slice columns (noted, not required, per split).
        blessing: the ``ModelBlessing`` document; default the evaluation's decision.
        infra_blessing: the ``InfraBlessing`` document (and metadata).
        run: ``run_id``, ``pipeline`` and ``execution_id`` of the run making the card.
        date: the version date (ISO ``YYYY-MM-DD``).

    Returns:
        A JSON-ready dict (strict JSON: no NaN or infinity).

    Raises:
        ValueError: a named sensitive feature, or the label, is not a column of a split.

    Example:
        >>> card = build_model_card({"task": "regression", "label": "y", "slices": {
        ...     "overall": {"count": 9, "metrics": {"rmse": 0.5}}}})
        >>> card["quantitative_analysis"]["performance_metrics"][0]
        {'type': 'rmse', 'value': '0.5', 'slice': 'overall'}
    """
    text = text or ModelCardText()
    info = {**(evaluation.get("model") or {}), **{k: v for k, v in (model or {}).items() if v}}
    run = dict(run or {})
    task = info["task"] = str(evaluation.get("task") or info.get("task") or "classification")
    label = info["label"] = evaluation.get("label") or info.get("label")
    classes = info["classes"] = evaluation.get("classes") or info.get("classes") or []
    named = sensitive_features is not None
    features = list(sensitive_features or ()) if named else default_sensitive_features(evaluation)
    buckets = _buckets(evaluation)
    by_label = str(label) if task == "classification" and label else None
    required = list(features) if named else []
    required += [by_label] if by_label is not None and features else []
    datasets = []
    for split, table in (data or {}).items():
        for column in required:
            if column not in table.column_names:
                raise ValueError(
                    f"Column {column!r} is not in split {split!r} of the examples; columns: "
                    f"{table.column_names}. Fix sensitive_features, or give the examples the "
                    "evaluation used (with the label)"
                )
        link = (data_links or {}).get(split)
        datasets.append(_dataset(split, table, by_label, features, buckets, link))

    framework = info.get("framework") or "unknown"
    artifact_id, fingerprint = info.get("artifact_id"), str(info.get("fingerprint") or "")
    pipeline, run_id = run.get("pipeline"), run.get("run_id")
    commands = [f"conveyor runs show {run_id}"] if run_id else []
    commands += [f"conveyor lineage {artifact_id}"] if artifact_id is not None else []
    names = ", ".join(map(str, classes))
    overview = text.description or (
        f"A {framework} {task} model predicting {label!r}"
        + (f" ({names})" if names and task == "classification" else "")
        + (f", trained by pipeline {pipeline!r}" if pipeline else "")
        + "."
    )
    architecture = f"{framework} {info.get('framework_version') or ''}".strip()
    if info.get("preset") or info.get("run_fn"):
        how = f"preset {info['preset']}" if info.get("preset") else f"run_fn {info['run_fn']}"
        architecture += f" ({how})"
    inputs = ", ".join(map(str, info.get("inputs") or []))
    card: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "model_details": {
            "name": text.name or str(pipeline or f"{label or 'unnamed'} model"),
            "overview": overview,
            "version": {
                "name": text.version
                or (f"model #{artifact_id}" if artifact_id else "")
                or fingerprint[:19]
                or "unversioned",
                "date": date,
            },
            "owners": [dict(o) for o in text.owners],
            "licenses": [
                {"identifier": x} if _SPDX.match(x) else {"custom_text": x} for x in text.licenses
            ],
            "references": [{"reference": r} for r in (*text.references, *commands)],
            "citations": [{"style": "text", "citation": c} for c in text.citations],
            "path": str(info.get("uri") or ""),
        },
        "model_parameters": {
            "model_architecture": architecture,
            "input_format": f"Rows with the columns {inputs}." if inputs else "",
            "output_format": f"The predicted {label} (one of {names}) and the probability of "
            "each class."
            if task == "classification"
            else f"A number: the predicted {label}.",
            "data": datasets,
        },
        "quantitative_analysis": {"performance_metrics": _performance_metrics(evaluation)},
        "considerations": {
            "users": [{"description": u} for u in text.users],
            "use_cases": [{"description": text.intended_use}] if text.intended_use else [],
            "limitations": [{"description": x} for x in text.limitations],
            "tradeoffs": [{"description": x} for x in text.tradeoffs],
            "ethical_considerations": [dict(r) for r in text.ethical_considerations],
        },
        "conveyor": _conveyor(evaluation, info, run, features, blessing, infra_blessing, commands),
    }
    _attach_graphics(card)
    return card


def _attach_graphics(card: dict[str, Any]) -> None:
    """Put each chart (SVG, base64) in the graphics collection of its section."""

    def graphic(name: str, svg: str) -> dict[str, str]:
        return {"name": name, "image": base64.b64encode(svg.encode("utf-8")).decode("ascii")}

    charts = card_charts(card)
    for dataset in card["model_parameters"]["data"]:
        dataset["graphics"] = {
            "description": "Label distribution per sensitive-feature value (SVG, base64).",
            "collection": [graphic(n, s) for n, s in charts.datasets.get(dataset["name"], [])],
        }
    card["quantitative_analysis"]["graphics"] = {
        "description": "Metrics per slice with their bootstrap intervals, and the confusion "
        "matrix (SVG, base64).",
        "collection": [graphic(n, s) for n, s in charts.metrics],
    }
