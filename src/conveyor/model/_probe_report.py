"""Reading the serving probe's report: its figures, the checks of its predictions, the bounds.

:mod:`conveyor.model.infra` runs the probe (:mod:`conveyor.model._serve_probe`) and turns its
report into an ``InfraResult``; the functions here read that report (a JSON document) and say
what it shows: the latency percentiles and throughput, the problems of the predictions, the
bounds of the ``InfraCheck`` that are broken, and the warnings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from conveyor.model.infra import InfraCheck

PREDICTION_SAMPLE = 10
PROBABILITY_TOLERANCE = 1e-3  # rows of probabilities must sum to 1 within this


def figures(data: dict[str, Any], check: InfraCheck) -> dict[str, Any]:
    latencies = np.asarray(data.get("latencies_ms") or [], dtype=np.float64)
    figures: dict[str, Any] = {
        "load_seconds": _number(data.get("load_seconds")),
        "import_seconds": _number(data.get("import_seconds")),
        "peak_rss_mb": _number(data.get("peak_rss_mb")),
        "num_requests": int(latencies.size),
        "rows_per_request": check.batch_size,
        "versions": dict(data.get("versions") or {}),
        "model": dict(data.get("model") or {}),
        "predictions": list(data.get("predictions") or [])[:PREDICTION_SAMPLE],
    }
    if latencies.size:
        p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
        total = float(latencies.sum()) / 1000.0
        rows = latencies.size * check.batch_size
        figures.update(
            latency_ms_p50=float(p50),
            latency_ms_p95=float(p95),
            latency_ms_p99=float(p99),
            latency_ms_max=float(latencies.max()),
            throughput_rows_per_second=rows / total if total > 0 else None,
        )
    return figures


def bound_failures(figures: dict[str, Any], check: InfraCheck) -> tuple[list[str], list[str]]:
    bounds = (
        ("LOAD_TIME_EXCEEDED", "load_seconds", check.max_load_seconds, "s", "cold start"),
        ("LATENCY_EXCEEDED", "latency_ms_p99", check.max_latency_ms_p99, "ms", "p99 latency"),
        ("MEMORY_EXCEEDED", "peak_rss_mb", check.max_memory_mb, "MiB", "peak memory"),
    )
    codes: list[str] = []
    reasons: list[str] = []
    for code, key, bound, unit, label in bounds:
        if bound is None:
            continue
        value = figures.get(key)
        if value is None:
            codes.append(code)
            reasons.append(f"{label} could not be measured (bound {bound:g} {unit})")
        elif value > bound:
            codes.append(code)
            reasons.append(f"{label} {value:.4g} {unit} > {bound:g} {unit}")
    return codes, reasons


def prediction_problems(data: dict[str, Any], check: InfraCheck) -> list[str]:
    model = data.get("model") or {}
    sizes: list[list[int]] = data.get("request_sizes") or []
    predictions: list[Any] = data.get("predictions") or []
    problems: list[str] = []
    if len(sizes) != check.num_requests:
        problems.append(f"{len(sizes)} requests were answered, {check.num_requests} were sent")
    for i, (sent, answered, proba_rows) in enumerate(sizes):
        if answered != sent or proba_rows not in (-1, sent):
            got = f"{answered} predictions" + (
                f" and {proba_rows} probability rows" if proba_rows != -1 else ""
            )
            problems.append(f"request {i} had {sent} row(s) but got {got}; one per row expected")
            break
    if model.get("task") == "regression":
        bad = [i for i, v in enumerate(predictions) if not (is_number(v) and math.isfinite(v))]
        if bad:
            problems.append(
                f"{len(bad)} of {len(predictions)} predictions are not finite numbers "
                f"(first at row {bad[0]}: {predictions[bad[0]]!r})"
            )
        return problems
    classes = list(model.get("classes") or [])
    unknown = [i for i, v in enumerate(predictions) if v not in classes or v is None]
    if unknown:
        problems.append(
            f"{len(unknown)} of {len(predictions)} predicted labels are not among the "
            f"model's classes {classes!r} (first at row {unknown[0]}: "
            f"{predictions[unknown[0]]!r})"
        )
    probabilities = data.get("probabilities")
    if probabilities is not None:
        problems.extend(probability_problems(probabilities, len(classes)))
    return problems


def probability_problems(rows: Sequence[Any], num_classes: int) -> list[str]:
    for i, row in enumerate(rows):
        values = row if isinstance(row, list) else [row]
        if len(values) != num_classes:
            return [f"probability row {i} has {len(values)} values for {num_classes} classes"]
        if not all(is_number(v) and math.isfinite(v) and -1e-9 <= v <= 1 + 1e-9 for v in values):
            return [f"probability row {i} has values outside [0, 1]: {values!r}"]
        if abs(sum(values) - 1.0) > PROBABILITY_TOLERANCE:
            return [f"probability row {i} sums to {sum(values):.6g}, not 1: {values!r}"]
    return []


def warnings(data: dict[str, Any]) -> list[str]:
    model = data.get("model") or {}
    versions = data.get("versions") or {}
    framework = model.get("framework")
    found = []
    saved, serving = model.get("framework_version"), versions.get(str(framework))
    if serving and saved not in (None, "unknown") and saved != serving:
        found.append(
            f"The model was saved with {framework} {saved}; the probe ran {framework} "
            f"{serving}. Pin the version the model was trained with in serving"
        )
    leaked = data.get("pipeline_modules") or []
    if leaked:
        found.append(f"Loading the model imported pipeline modules {leaked!r}")
    return found


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any) -> float | None:
    return float(value) if is_number(value) else None
