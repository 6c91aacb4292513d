"""Human views of data statistics: a self-contained HTML page (Facets-Overview style, a
baseline side by side) and rich tables for the terminal.

Example:
    >>> import pyarrow as pa
    >>> from conveyor.data.stats import compute_statistics
    >>> html = statistics_html(compute_statistics(pa.table({"x": [1, 2]})))
    >>> "<svg" in html and "http" not in html
    True
"""

from __future__ import annotations

import html as _html
from typing import Any

from conveyor.data.model import (
    FeatureStatistics,
    StatisticsCollection,
    ValueCount,
)

__all__ = ["print_statistics", "statistics_html"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border-bottom:1px solid #e4e4e4;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f6f6}.num{text-align:right;font-variant-numeric:tabular-nums}
.miss-high{color:#b00020;font-weight:600}.legend span{display:inline-block;margin-right:1rem}
.sw{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}
.name{font-weight:600}.type{color:#666;font-size:.75rem}
"""
_COLORS = ("#4e79a7", "#f28e2b")  # data set, baseline


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:  # NaN
            return "nan"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _pct(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else 0.0


def _hist_svg(series: list[FeatureStatistics | None], width: int = 260, height: int = 70) -> str:
    """Bars of the standard histograms of one feature in each data set, as fractions."""
    bars: list[list[float]] = []
    labels: list[str] = []
    for f in series:
        hist = None
        if f is not None and f.numeric is not None:
            hist = next((h for h in f.numeric.histograms if h.kind == "standard"), None)
        if hist is None:
            bars.append([])
            continue
        total = sum(b.count for b in hist.buckets) or 1.0
        bars.append([b.count / total for b in hist.buckets])
        if not labels:
            labels = [_fmt(hist.buckets[0].low), _fmt(hist.buckets[-1].high)]
    n = max((len(b) for b in bars), default=0)
    if n == 0:
        return ""
    top = max((v for b in bars for v in b), default=1.0) or 1.0
    group = width / n
    bar_w = group / (len(bars) + 0.5)
    rects = []
    for s, values in enumerate(bars):
        for i, v in enumerate(values):
            h = (height - 14) * v / top
            x = i * group + s * bar_w
            rects.append(
                f'<rect x="{x:.1f}" y="{height - 14 - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{_COLORS[s % 2]}"><title>{v:.1%}</title></rect>'
            )
    text = (
        f'<text x="0" y="{height - 2}" font-size="10">{_html.escape(labels[0])}</text>'
        f'<text x="{width}" y="{height - 2}" font-size="10" text-anchor="end">'
        f"{_html.escape(labels[1])}</text>"
        if labels
        else ""
    )
    return f'<svg width="{width}" height="{height}" role="img">{"".join(rects)}{text}</svg>'


def _top_svg(series: list[FeatureStatistics | None], k: int = 8, width: int = 260) -> str:
    """Horizontal bars of the top values (of the first data set), each data set's share."""
    first = next((f for f in series if f is not None and f.string is not None), None)
    if first is None or first.string is None or not first.string.top_values:
        return ""
    values = [v.value for v in first.string.top_values[:k]]
    shares: list[dict[str, float]] = []
    for f in series:
        tops: list[ValueCount] = f.string.top_values if f and f.string else []
        total = f.count if f and f.count else 1
        shares.append({v.value: v.count / total for v in tops})
    row_h, label_w = 8 * len(series) + 6, 110
    rects = []
    for i, value in enumerate(values):
        y = i * row_h
        rects.append(f'<text x="0" y="{y + 9}" font-size="10">{_html.escape(value[:18])}</text>')
        for s, share in enumerate(shares):
            w = (width - label_w - 40) * share.get(value, 0.0)
            rects.append(
                f'<rect x="{label_w}" y="{y + s * 8}" width="{w:.1f}" height="7" '
                f'fill="{_COLORS[s % 2]}"><title>{share.get(value, 0.0):.1%}</title></rect>'
            )
        rects.append(
            f'<text x="{width}" y="{y + 9}" font-size="10" text-anchor="end">'
            f"{shares[0].get(value, 0.0):.1%}</text>"
        )
    return f'<svg width="{width}" height="{row_h * len(values)}" role="img">{"".join(rects)}</svg>'


def _summary(f: FeatureStatistics | None, num_rows: int) -> str:
    if f is None:
        return "<td>absent</td>"
    miss = _pct(f.missing, num_rows)
    cls = ' class="miss-high"' if miss >= 10 else ""
    parts = [f"count {_fmt(f.count)}", f"<span{cls}>missing {miss:.1f}%</span>"]
    if f.numeric is not None and f.numeric.mean is not None:
        n = f.numeric
        parts += [
            f"mean {_fmt(n.mean)}",
            f"std {_fmt(n.std)}",
            f"min {_fmt(n.min)}",
            f"median {_fmt(n.quantiles[5]) if len(n.quantiles) == 11 else ''}",
            f"max {_fmt(n.max)}",
            f"zeros {_pct(n.zeros, f.count or 1):.1f}%",
        ]
    if f.string is not None:
        parts.append(f"unique {_fmt(f.string.unique)}")
        if f.string.avg_length is not None:
            parts.append(f"avg length {f.string.avg_length:.1f}")
    return f'<td class="num">{"<br>".join(parts)}</td>'


def statistics_html(
    stats: StatisticsCollection, baseline: StatisticsCollection | None = None, *, title: str = ""
) -> str:
    """A self-contained HTML page (inline CSS and SVG, nothing fetched) of ``stats``.

    One table per data set (split or slice): per feature its type, counts, missing %,
    moments and a histogram or its top values. With ``baseline``, the data set of the same
    name (or the first one) is shown beside each, in a second colour, as Facets Overview does.

    Example:
        >>> from conveyor.data.model import StatisticsCollection
        >>> "<html" in statistics_html(StatisticsCollection())
        True
    """
    body = [f"<h1>{_html.escape(title or 'Data statistics')}</h1>"]
    if baseline is not None:
        body.append(
            '<p class="legend">'
            f'<span><i class="sw" style="background:{_COLORS[0]}"></i>data</span>'
            f'<span><i class="sw" style="background:{_COLORS[1]}"></i>baseline</span></p>'
        )
    if not stats.datasets:
        body.append("<p>No data sets.</p>")
    for ds in stats.datasets:
        base = None
        if baseline is not None and baseline.datasets:
            base = next(
                (b for b in baseline.datasets if b.name == ds.name and b.slice == ds.slice),
                baseline.datasets[0],
            )
        head = f"{ds.name}" + (f" — {ds.slice}" if ds.slice else "")
        rows_note = f"{ds.num_rows:,} rows" + (
            f" (baseline {base.num_rows:,})" if base is not None else ""
        )
        body.append(f"<h2>{_html.escape(head)} <small>{rows_note}</small></h2>")
        cols = "<th>data</th><th>baseline</th>" if base is not None else "<th>summary</th>"
        body.append(f"<table><tr><th>feature</th>{cols}<th>distribution</th></tr>")
        names = [f.name for f in ds.features]
        if base is not None:
            names += [f.name for f in base.features if f.name not in names]
        for name in names:
            f = ds.feature(name)
            series = [f] + ([base.feature(name)] if base is not None else [])
            ftype = next((x.type for x in series if x is not None), "")
            cells = _summary(f, ds.num_rows)
            if base is not None:
                cells += _summary(base.feature(name), base.num_rows)
            chart = _hist_svg(series) or _top_svg(series)
            body.append(
                f'<tr><td><span class="name">{_html.escape(name)}</span><br>'
                f'<span class="type">{ftype}</span></td>{cells}<td>{chart}</td></tr>'
            )
        body.append("</table>")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_html.escape(title or 'Data statistics')}</title><style>{_CSS}</style>"
        f"</head><body>{''.join(body)}</body></html>"
    )


def print_statistics(stats: StatisticsCollection, console: Any) -> None:
    """Print one rich table per data set: numeric and string features with key figures.

    Example:
        >>> from rich.console import Console  # doctest: +SKIP
        >>> print_statistics(stats, Console())  # doctest: +SKIP
    """
    from rich.table import Table

    for ds in stats.datasets:
        head = ds.name + (f" / {ds.slice}" if ds.slice else "")
        table = Table(title=f"{head}: {ds.num_rows:,} rows", title_justify="left")
        table.add_column("feature", no_wrap=True, max_width=22)
        table.add_column("type", no_wrap=True)
        table.add_column("missing", justify="right", no_wrap=True)
        for col in ("mean", "std", "min", "median", "max"):
            table.add_column(col, justify="right", no_wrap=True)
        table.add_column("unique: top values", overflow="ellipsis", no_wrap=True, max_width=30)
        for f in ds.features:
            n, s = f.numeric, f.string
            median = n.quantiles[5] if n is not None and len(n.quantiles) == 11 else None
            top = ""
            if s is not None:
                top = f"{s.unique:,}: " + ", ".join(
                    f"{v.value} {_pct(v.count, f.count or 1):.0f}%" for v in s.top_values[:3]
                )
            table.add_row(
                f.name,
                str(f.type),
                f"{_pct(f.missing, ds.num_rows):.1f}%",
                *(_fmt(v) for v in (n.mean, n.std, n.min, median, n.max))
                if n is not None
                else ("",) * 5,
                top,
            )
        console.print(table)
