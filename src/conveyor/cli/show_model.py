"""``conveyor show`` views of the gate to production: evaluations, blessings, pushes, cards."""

from __future__ import annotations

import json
import os
from typing import Any

from rich.table import Table

from conveyor.types.evaluation import (
    BLESSING_FILE,
    CARD_HTML,
    CARD_JSON,
    EVALUATION_FILE,
    INFRA_FILE,
    PUSH_FILE,
)
from conveyor.types.model import ONNX_EXPORT_FILE, ONNX_FILE

__all__ = ["MODEL_VIEWS"]

HEADLINE = ("roc_auc", "accuracy", "f1", "recall", "log_loss", "rmse", "mae", "r2")
"""Metrics shown per slice, in this order, when present."""
MAX_COLUMNS = 3


def _read(art: Any, name: str) -> dict[str, Any]:
    with open(os.path.join(art.uri, name), encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


def _decision(console: Any, decision: dict[str, Any]) -> None:
    blessed = decision.get("blessed")
    colour, word = ("green", "BLESSED") if blessed else ("red", "NOT BLESSED")
    console.print(f"[bold {colour}]{word}[/] ({decision.get('reason')})")
    if decision.get("forced"):
        console.print(f"  forced: {decision.get('force_reason')}")
    for failure in decision.get("failures", []):
        console.print(f"  [red]failed[/]: {failure['message']}")
    for warning in decision.get("warnings", []):
        console.print(f"  [yellow]warning[/]: {warning['message']}")
    skipped = decision.get("skipped", [])
    if skipped:
        reasons: dict[str, int] = {}
        for item in skipped:
            reasons[item["reason"]] = reasons.get(item["reason"], 0) + 1
        text = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items()))
        console.print(f"  not judged: {text}")


def _show_evaluation(art: Any, console: Any) -> None:
    doc = _read(art, EVALUATION_FILE)
    slices: dict[str, Any] = doc.get("slices", {})
    judged = [t["metric"] for t in (doc.get("config") or {}).get("thresholds", [])]
    present: list[str] = []
    room = MAX_COLUMNS - 1 if doc.get("bootstrap") else MAX_COLUMNS
    for metric in (*judged, *HEADLINE):  # thresholded metrics first; three fit a terminal
        seen = any(metric in s.get("metrics", {}) for s in slices.values())
        if seen and metric not in present and len(present) < room:
            present.append(metric)
    changes: dict[str, Any] = doc.get("changes") or {}
    table = Table(
        title=f"Evaluation #{art.id} of {doc.get('task')} model on split {doc.get('split')!r}",
        header_style="bold",
        title_justify="left",
    )
    table.add_column("slice", overflow="fold", max_width=28)
    table.add_column("rows", justify="right")
    for column in present:
        table.add_column(column, justify="right")
    ordered = sorted(slices.items(), key=lambda item: (item[0] != "overall", item[0]))
    for name, entry in ordered:
        cells = []
        for metric in present:
            text = _number(entry.get("metrics", {}).get(metric))
            change = (changes.get(name) or {}).get(metric)
            if change:
                text += f" ({change['value']:+.3f})"
            interval = (entry.get("intervals") or {}).get(metric)
            if interval:
                text += f"\n[{interval[0]:.3f}, {interval[1]:.3f}]"
            cells.append(text)
        label = f"{name} [dim](too small)[/]" if entry.get("too_small") else name
        table.add_row(label, f"{entry.get('count', 0):,}", *cells)
    console.print(table)
    if doc.get("bootstrap"):
        boot = doc["bootstrap"]
        note = f"intervals: {boot['confidence']:.0%} bootstrap, {boot['resamples']} resamples"
        console.print(note + ("; (+x): change against the baseline" if changes else ""))
    largest = (doc.get("fairness") or {}).get("largest")
    if largest:
        console.print(
            f"largest fairness gap: {largest['metric']} across {largest['feature']}: "
            f"{largest['gap']:.3g} ({largest['max_slice']} vs {largest['min_slice']})"
        )
    _decision(console, doc.get("blessing", {}))


def _show_blessing(art: Any, console: Any) -> None:
    doc = _read(art, BLESSING_FILE)
    console.print(f"ModelBlessing #{art.id} of model {doc.get('model', {}).get('uri')}")
    baseline = doc.get("baseline")
    console.print(f"baseline: {baseline['uri'] if baseline else 'none (first run)'}")
    _decision(console, doc)


def _show_infra(art: Any, console: Any) -> None:
    doc = _read(art, INFRA_FILE)
    state = "[green]passed[/]" if doc.get("blessed") else "[red]failed[/]"
    console.print(f"InfraBlessing #{art.id}: {state} ({doc.get('reason')})")
    console.print(f"  {doc.get('message', '')}")
    figures = ("load_seconds", "latency_ms_p50", "latency_ms_p99", "peak_rss_mb")
    console.print("  " + ", ".join(f"{k} {_number(doc.get(k))}" for k in figures))


def _show_push(art: Any, console: Any) -> None:
    from rich.markup import escape

    doc = _read(art, PUSH_FILE)
    if not doc.get("pushed"):
        reason = escape(str(doc.get("reason")))
        console.print(f"PushedModel #{art.id}: [red]not pushed[/]: {reason}")
        return
    targets = []
    if doc.get("pushed_destination"):
        targets.append(f"to {doc['pushed_destination']}")
    if doc.get("registered_uri"):
        reused = "" if doc.get("registered_new", True) else " (the version of the same model)"
        targets.append(f"registered as {doc['registered_uri']}{reused}")
    console.print(f"PushedModel #{art.id}: [green]pushed[/] {escape(', '.join(targets))}")
    if doc.get("alias"):
        ref = f"{doc['registered_model']}@{doc['alias']}"
        if doc.get("alias_moved"):
            before = doc.get("alias_from_version") or "-"
            console.print(f"  {escape(ref)}: {before} -> {doc['registered_version']}")
        else:
            console.print(f"  {escape(ref)} already pointed at {doc['registered_version']}")
    if doc.get("onnx_pushed"):
        where = doc.get("onnx_destination") or doc.get("onnx_uri")
        console.print(f"  ONNX: {escape(str(where))}")
    elif "onnx_pushed" in doc:
        console.print(f"  ONNX not pushed: {escape(str(doc.get('onnx_reason')))}")


def _show_onnx(art: Any, console: Any) -> None:
    from rich.markup import escape

    doc = _read(art, ONNX_EXPORT_FILE)
    if not doc.get("converted"):
        reason = escape(str(doc.get("reason")))
        console.print(f"OnnxModel #{art.id}: [red]not converted[/]: {reason}")
        return
    state = "[green]parity passed[/]" if doc.get("parity_passed") else "[red]parity failed[/]"
    console.print(f"OnnxModel #{art.id}: converted by {doc.get('converter')}, {state}")
    console.print(f"  {os.path.join(art.uri, ONNX_FILE)} ({doc.get('size_bytes')} bytes)")
    console.print(
        f"  on {doc.get('parity_rows')} rows: max diff "
        f"{doc.get('parity_max_rel_diff', 0):.3g} (tolerance {doc.get('parity_tolerance')}), "
        f"label agreement {_number(doc.get('parity_label_agreement'))}"
    )
    if doc.get("reason"):
        console.print(f"  {escape(str(doc['reason']))}")


def _show_card(art: Any, console: Any) -> None:
    page = os.path.join(art.uri, CARD_HTML)
    props = art.properties
    console.print(f"ModelCard #{art.id}: {props.get('name', '')} {props.get('version', '')}")
    console.print(f"  open {page} in a browser (self-contained, works offline)")
    console.print(f"  Model Card Toolkit JSON: {os.path.join(art.uri, CARD_JSON)}")


MODEL_VIEWS = {
    "conveyor.ModelEvaluation": _show_evaluation,
    "conveyor.ModelBlessing": _show_blessing,
    "conveyor.InfraBlessing": _show_infra,
    "conveyor.PushedModel": _show_push,
    "conveyor.OnnxModel": _show_onnx,
    "conveyor.ModelCard": _show_card,
}
"""Views of the gate's artifact types, by type title."""
