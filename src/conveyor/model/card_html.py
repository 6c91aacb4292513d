"""The model card as a page: self-contained HTML with inline SVG charts, readable offline.

:func:`render_model_card_html` turns a card (see :func:`conveyor.model.card.build_model_card`)
into one HTML document: CSS in a ``<style>`` block, every chart an inline ``<svg>`` with a
``<title>`` and an ``aria-label``, no script, no font, no URL to fetch. User text is escaped
(Jinja2 autoescape), and references are shown as text, never as links. The CSS is scoped to
``.mc`` so the page also embeds in a notebook. :func:`model_card_view` is the HTML view of a
``ModelCard`` artifact for notebooks and the UI.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

import jinja2
from markupsafe import Markup

from conveyor.types.artifacts import register_view
from conveyor.types.evaluation import CARD_HTML

__all__ = [
    "CardCharts",
    "card_charts",
    "confusion_matrix_svg",
    "distribution_svg",
    "metric_bars_svg",
    "model_card_view",
    "render_model_card_html",
]

OVERALL = "overall"
# Okabe-Ito: distinguishable with the common colour-vision deficiencies
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000")
MAX_BARS = 40
MAX_CLASSES = 20
_FONT = 'font-family="system-ui,sans-serif" font-size="11"'


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def _short(text: str, size: int = 26) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{_e(title)}" {_FONT}>'
        f"<title>{_e(title)}</title>" + "".join(body) + "</svg>"
    )


def metric_bars_svg(
    metric: str, rows: Sequence[tuple[str, float, tuple[float, float] | None, bool]]
) -> str:
    """Horizontal bars of ``metric`` per slice (``(slice, value, interval, too_small)``), with
    the interval as a whisker; too-small slices in grey.

    Example:
        >>> metric_bars_svg("auc", [("overall", 0.8, (0.78, 0.82), False)])[:4]
        '<svg'
    """
    rows = [r for r in rows if math.isfinite(r[1])][:MAX_BARS]
    numbers = [0.0] + [v for _, v, _, _ in rows]
    numbers += [b for _, _, ci, _ in rows if ci for b in ci if math.isfinite(b)]
    low, high = min(numbers), max(numbers)
    if low >= 0 and high <= 1:
        high = 1.0
    span = (high - low) or 1.0
    left, plot, bar = 150, 270, 18
    width, height = left + plot + 60, 26 + bar * len(rows) + 8

    def x(v: float) -> float:
        return left + (min(max(v, low), high) - low) / span * plot

    title = f"{metric} by slice" + (f" (first {MAX_BARS})" if len(rows) == MAX_BARS else "")
    if any(r[2] for r in rows):
        title += " (whiskers: confidence interval)"
    body = [f'<text x="4" y="14" font-weight="600">{_e(title)}</text>']
    zero = x(0.0)
    body.append(f'<line x1="{zero:.1f}" y1="20" x2="{zero:.1f}" y2="{height - 4}" stroke="#999"/>')
    for i, (name, value, ci, small) in enumerate(rows):
        y = 24 + i * bar
        colour = "#b8b8b8" if small else ("#1f3b73" if name == OVERALL else PALETTE[0])
        x0, x1 = sorted((zero, x(value)))
        tip = f"{name}: {_fmt(value)}" + (f" [{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "")
        tip += " (too small to judge)" if small else ""
        body.append(
            f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{_e(_short(name, 22))}</text>'
            f'<rect x="{x0:.1f}" y="{y + 2}" width="{max(x1 - x0, 1):.1f}" height="{bar - 5}" '
            f'fill="{colour}"><title>{_e(tip)}</title></rect>'
            f'<text x="{left + plot + 6}" y="{y + 12}">{_e(_fmt(value))}</text>'
        )
        if ci and all(math.isfinite(b) for b in ci):
            a, b, mid = x(ci[0]), x(ci[1]), y + bar / 2
            body.append(
                f'<path d="M{a:.1f} {mid - 4}v8M{a:.1f} {mid}H{b:.1f}M{b:.1f} {mid - 4}v8" '
                'stroke="#222" fill="none"/>'
            )
    return _svg(width, height, title, body)


def distribution_svg(
    title: str, distribution: Mapping[str, Mapping[str, int]], labels: Sequence[str]
) -> str:
    """Grouped bars: per feature value, the share of each label (or the row count when there
    is one label key), with a legend and each group's size.

    Example:
        >>> distribution_svg("sex", {"F": {"0": 3, "1": 1}}, ["0", "1"])[:4]
        '<svg'
    """
    groups = list(distribution)
    keys = list(labels) or sorted({k for d in distribution.values() for k in d})
    shares = len(keys) > 1
    top = max((max(d.values(), default=0) for d in distribution.values()), default=0) or 1
    bar, plot, base, left = 12, 110, 156, 44
    group_w = max(bar * len(keys) + 16, 72)
    width = max(360, left + 8 + group_w * len(groups))
    body = [f'<text x="4" y="14" font-weight="600">{_e(title)}</text>']
    for i, key in enumerate(keys):
        lx = left + i * 90
        body.append(
            f'<rect x="{lx}" y="21" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text x="{lx + 14}" y="30">{_e(_short(key, 12))}</text>'
        )
    for frac in (0.0, 0.5, 1.0):
        y = base - frac * plot
        tick = f"{frac:.0%}" if shares else f"{round(frac * top):,}"
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 4}" y2="{y:.1f}" '
            f'stroke="{"#999" if frac == 0 else "#e3e7ef"}"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#666">{tick}</text>'
        )
    for g, value in enumerate(groups):
        counts = distribution[value]
        total = sum(counts.values())
        gx = left + 4 + g * group_w
        x0 = gx + (group_w - bar * len(keys)) / 2
        for i, key in enumerate(keys):
            n = counts.get(key, 0)
            h = (n / total if shares and total else n / top) * plot
            tip = f"{value}, {key}: {n:,} rows" + (f" ({n / total:.1%})" if total else "")
            colour = PALETTE[i % len(PALETTE)]
            body.append(
                f'<rect x="{x0 + i * bar:.1f}" y="{base - h:.1f}" width="{bar - 2}" '
                f'height="{h:.1f}" fill="{colour}"><title>{_e(tip)}</title></rect>'
            )
        cx = gx + group_w / 2
        body.append(
            f'<text x="{cx:.1f}" y="{base + 14}" text-anchor="middle">{_e(_short(value, 11))}'
            f'</text><text x="{cx:.1f}" y="{base + 27}" text-anchor="middle" fill="#666">'
            f"n={total:,}</text>"
        )
    return _svg(width, base + 34, title, body)


def confusion_matrix_svg(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> str:
    """A heat table: rows are true classes, columns predicted; shade is the row's share.

    Example:
        >>> confusion_matrix_svg(["0", "1"], [[5, 1], [2, 4]])[:4]
        '<svg'
    """
    k = len(matrix)
    names = [str(x) for x in labels] if len(labels) == k else [str(i) for i in range(k)]
    cell, left, top = 52, 110, 46
    width, height = max(left + cell * k + 10, 350), top + cell * k + 8
    title = "Confusion matrix (rows: true, columns: predicted)"
    body = [f'<text x="4" y="14" font-weight="600">{_e(title)}</text>']
    for j, name in enumerate(names):
        body.append(
            f'<text x="{left + j * cell + cell / 2}" y="{top - 8}" text-anchor="middle">'
            f"{_e(_short(name, 8))}</text>"
        )
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        y = top + i * cell
        body.append(
            f'<text x="{left - 6}" y="{y + cell / 2 + 4}" text-anchor="end">'
            f"{_e(_short(names[i], 16))}</text>"
        )
        for j, n in enumerate(row):
            share = n / total
            light = int(255 - 180 * share)
            ink = "#fff" if share > 0.55 else "#111"
            body.append(
                f'<rect x="{left + j * cell}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                f'fill="rgb({light},{light + (255 - light) // 3},255)">'
                f"<title>{_e(f'true {names[i]}, predicted {names[j]}: {n:,} ({share:.1%})')}"
                f'</title></rect><text x="{left + j * cell + cell / 2 - 1}" y="{y + cell / 2 + 4}" '
                f'text-anchor="middle" fill="{ink}">{n:,}</text>'
            )
    return _svg(width, height, title, body)


@dataclass
class CardCharts:
    """The charts of a card as ``(name, svg)``: ``metrics`` (per headline metric, then the
    confusion matrix), label distributions per split (``datasets``, in sensitive-feature
    order) and the same per sensitive feature (``by_feature``, in split order)."""

    metrics: list[tuple[str, str]] = field(default_factory=list)
    datasets: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    by_feature: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def _metric_index(card: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    index = {}
    for m in card.get("quantitative_analysis", {}).get("performance_metrics", []):
        ci = m.get("confidence_interval")
        index[(m.get("slice", OVERALL), m["type"])] = {
            "value": float(m["value"]),
            "ci": (float(ci["lower_bound"]), float(ci["upper_bound"])) if ci else None,
            "threshold": m.get("threshold", ""),
        }
    return index


def card_charts(card: Mapping[str, Any]) -> CardCharts:
    """Every chart of ``card`` as SVG, drawn from its data (never from stored images)."""
    ext = card.get("conveyor") or {}
    index = _metric_index(card)
    charts = CardCharts()
    small = {s["name"]: s.get("too_small", False) for s in ext.get("slices", [])}
    for metric in ext.get("headline_metrics", []):
        rows = [
            (name, index[(name, metric)]["value"], index[(name, metric)]["ci"], small[name])
            for name in small
            if (name, metric) in index
        ]
        if rows:
            charts.metrics.append((f"{metric} by slice", metric_bars_svg(metric, rows)))
    cm = ext.get("confusion_matrix")
    cells = [x for row in (cm or {}).get("matrix") or [] for x in row]
    if cm and 0 < len(cm["matrix"]) <= MAX_CLASSES and all(isinstance(x, int) for x in cells):
        matrix_svg = confusion_matrix_svg(cm["labels"], cm["matrix"])
        charts.metrics.append(("Confusion matrix", matrix_svg))
    classes = [str(c) for c in ext.get("classes") or []]
    for data in card.get("model_parameters", {}).get("data", []):
        for feature, dist in (data.get("class_distribution") or {}).items():
            title = f"Label by {feature} ({data['name']})"
            seen = {k for d in dist.values() for k in d}
            keys = [c for c in classes if c in seen] + sorted(seen - set(classes))
            chart = (title, distribution_svg(title, dist, keys))
            charts.datasets.setdefault(data["name"], []).append(chart)
            charts.by_feature.setdefault(feature, []).append(chart)
    return charts


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    here = os.path.join(os.path.dirname(__file__), "templates")
    # lenient Undefined: a card written by an older version (a missing key) still renders
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(here), autoescape=True)
    env.filters["num"] = _number_text
    return env


def _number_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return _fmt(value) if isinstance(value, float) else str(value)


def _state(blessed: Any) -> str:
    """The badge of a decision: ``none`` (no decision), ``ok`` or ``bad``."""
    return "none" if blessed is None else ("ok" if blessed else "bad")


def _decision(ext: Mapping[str, Any]) -> dict[str, Any]:
    decision = ext.get("blessing") or {}
    state = _state(decision.get("blessed"))
    title = {"none": "No decision", "ok": "Blessed", "bad": "Not blessed"}[state]
    messages = [
        f.get("message") or f"{f.get('slice')}: {f.get('metric')}" if isinstance(f, Mapping) else f
        for f in decision.get("failures") or []
    ]
    return {**decision, "state": state, "title": title, "messages": messages}


def _infra(ext: Mapping[str, Any]) -> dict[str, Any] | None:
    infra = ext.get("infra_blessing")
    if infra is None:
        return None
    state = _state(infra.get("blessed"))
    # the measurements (load time, latency, memory), not the identifiers around them
    details = {
        k: v for k, v in infra.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }
    message = infra.get("message") if isinstance(infra.get("message"), str) else ""
    return {"state": state, "reason": infra.get("reason"), "details": details, "message": message}


def _fairness(ext: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    fairness = ext.get("fairness") or {}
    rows = []
    for feature, metrics in (fairness.get("features") or {}).items():
        for metric, item in metrics.items():
            rows.append({"feature": feature, "metric": metric, **item})
    largest = fairness.get("largest")
    if largest:
        values = (fairness.get("features") or {}).get(largest.get("feature"), {})
        values = (values.get(largest.get("metric")) or {}).get("values") or {}
        largest = {**largest, "values": values}
    return largest, rows


def _overall(
    index: Mapping[tuple[str, str], dict[str, Any]], ext: Mapping[str, Any]
) -> list[dict[str, Any]]:
    baseline = (ext.get("baseline") or {}).get("overall") or {}
    changes = (ext.get("changes") or {}).get(OVERALL) or {}
    rows = []
    for (name, metric), item in index.items():
        if name == OVERALL:
            change = changes.get(metric) or {}
            rows.append(
                {"metric": metric, **item, "baseline": baseline.get(metric), "change": change}
            )
    return rows


def render_model_card_html(card: Mapping[str, Any]) -> str:
    """The card as one self-contained, offline-readable HTML document.

    Example:
        >>> from conveyor.model.card import build_model_card
        >>> page = render_model_card_html(build_model_card({"task": "regression",
        ...     "label": "y", "slices": {"overall": {"count": 3, "metrics": {"rmse": 1.0}}}}))
        >>> "<svg" in page and "http://" not in page.replace('xmlns="http://www.w3', "")
        True
    """
    ext = card.get("conveyor") or {}
    charts = card_charts(card)
    largest, fairness = _fairness(ext)
    index = _metric_index(card)
    headline = list(ext.get("headline_metrics") or [])
    slices = [
        {**s, "values": {m: index.get((s["name"], m), {}).get("value") for m in headline}}
        for s in ext.get("slices", [])
    ]
    context = {
        "card": card,
        "ext": ext,
        "details": card.get("model_details") or {},
        "params": card.get("model_parameters") or {},
        "considerations": card.get("considerations") or {},
        "decision": _decision(ext),
        "infra": _infra(ext),
        "largest": largest,
        "fairness": fairness,
        "overall": _overall(index, ext),
        "headline": headline,
        "slices": slices,
        "metric_charts": [(n, Markup(s)) for n, s in charts.metrics],
        "feature_charts": {f: [(n, Markup(s)) for n, s in c] for f, c in charts.by_feature.items()},
    }
    return _environment().get_template("model_card.html.j2").render(**context)


def model_card_view(title: str, uri: str) -> str | None:
    """The HTML view of a ``conveyor.ModelCard`` artifact at a local ``uri``; None otherwise.

    Registered with :func:`conveyor.types.register_view` when this module is imported.
    """
    if title != "conveyor.ModelCard":
        return None
    path = os.path.join(uri.removeprefix("file://"), CARD_HTML)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return fh.read()


register_view("conveyor.ModelCard", model_card_view)
