"""HTML views of data artifacts for notebooks (``_repr_html_``) and the UI: statistics,
schemas and anomalies (anomalous features highlighted)."""

from __future__ import annotations

import html
import json
import os
from typing import Any

from conveyor.data.model import StatisticsCollection
from conveyor.data.render import statistics_html
from conveyor.types.artifacts import register_view

__all__ = ["anomalies_html", "artifact_html", "schema_html"]

_STYLE = (
    "<style>.cv-t{border-collapse:collapse;font:13px system-ui,sans-serif}"
    ".cv-t td,.cv-t th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;"
    "vertical-align:top}.cv-t th{background:#f4f4f4}.cv-err{background:#fde8e8}"
    ".cv-warn{background:#fff6db}.cv-ok{color:#17803d}</style>"
)


def _e(value: Any) -> str:
    return html.escape(str(value))


def anomalies_html(anomalies: dict[str, Any], *, title: str = "Anomalies") -> str:
    """A table of anomalies (the JSON form of ``Anomalies``), errors highlighted in red."""
    rows = []
    items = sorted(anomalies.get("anomaly_info", {}).items())
    dataset = anomalies.get("dataset_anomaly_info")
    if dataset:
        items.append(("(dataset)", dataset))
    for path, info in items:
        css = "cv-err" if info.get("severity") == "ERROR" else "cv-warn"
        kinds = ", ".join(r.get("type", "") for r in info.get("reasons", []))
        rows.append(
            f'<tr class="{css}"><td><b>{_e(path)}</b></td><td>{_e(info.get("severity"))}</td>'
            f"<td>{_e(kinds or info.get('short_description', ''))}</td>"
            f"<td>{_e(info.get('description', ''))}</td></tr>"
        )
    drift = []
    for d in anomalies.get("drift_skew_info", []):
        for kind in ("drift_measurements", "skew_measurements"):
            for m in d.get(kind, []):
                drift.append(
                    f"<tr><td>{_e(d.get('path'))}</td><td>{_e(kind.split('_')[0])}</td>"
                    f"<td>{_e(m.get('type'))}</td><td>{_e(m.get('value'))}</td>"
                    f"<td>{_e(m.get('threshold'))}</td></tr>"
                )
    body = f"<h3>{_e(title)}</h3>"
    if not rows:
        body += '<p class="cv-ok">No anomalies.</p>'
    else:
        body += (
            '<table class="cv-t"><tr><th>feature</th><th>severity</th><th>anomaly</th>'
            "<th>description</th></tr>" + "".join(rows) + "</table>"
        )
    if drift:
        body += (
            '<h4>Drift and skew</h4><table class="cv-t"><tr><th>feature</th><th>kind</th>'
            "<th>comparator</th><th>value</th><th>threshold</th></tr>" + "".join(drift) + "</table>"
        )
    return _STYLE + body


def schema_html(schema: dict[str, Any], *, title: str = "Schema") -> str:
    """A table of a schema's features (the JSON/YAML form of ``DataSchema``)."""
    rows = []
    for f in schema.get("features", []):
        values = f.get("values")
        if values:
            domain = ", ".join(map(str, values[:12])) + (" ..." if len(values) > 12 else "")
        elif f.get("min") is not None or f.get("max") is not None:
            domain = f"[{f.get('min')}, {f.get('max')}]"
        else:
            domain = ""
        comps = [k for k in ("drift_comparator", "skew_comparator") if f.get(k)]
        rows.append(
            f"<tr><td><b>{_e(f.get('name'))}</b></td><td>{_e(f.get('type'))}</td>"
            f"<td>{float(f.get('min_fraction_present', 1.0)):.0%}</td><td>{_e(domain)}</td>"
            f"<td>{_e(', '.join(comps))}</td></tr>"
        )
    return (
        _STYLE + f"<h3>{_e(title)}</h3>"
        '<table class="cv-t"><tr><th>feature</th><th>type</th><th>presence</th>'
        "<th>domain</th><th>comparators</th></tr>" + "".join(rows) + "</table>"
    )


def artifact_html(title: str, uri: str) -> str | None:
    """The HTML view of a data artifact at a local ``uri``, by type title; None if none."""
    if title == "conveyor.ExampleStatistics":
        with open(os.path.join(uri, "statistics.json"), encoding="utf-8") as fh:
            return statistics_html(StatisticsCollection.from_dict(json.load(fh)))
    if title == "conveyor.ExampleAnomalies":
        with open(os.path.join(uri, "anomalies.json"), encoding="utf-8") as fh:
            return anomalies_html(json.load(fh))
    if title == "conveyor.Schema":
        from conveyor.data.schema import load_schema

        return schema_html(load_schema(os.path.join(uri, "schema.yaml")).to_dict())
    return None


for _title in ("conveyor.ExampleStatistics", "conveyor.ExampleAnomalies", "conveyor.Schema"):
    register_view(_title, artifact_html)
