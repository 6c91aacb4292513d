"""Typed views of artifacts as JSON, by artifact type: what the artifact page draws.

The readers are the project's own (``StatisticsCollection``, ``load_schema``,
``manifest_json``, the evaluation and push documents); this module only shapes their content
for the page and caps its size (rows of a data sample, features, values).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from conveyor.metadata.entities import ArtifactRecord
from conveyor.types.evaluation import (
    BLESSING_FILE,
    CARD_HTML,
    EVALUATION_FILE,
    INFRA_FILE,
    PUSH_FILE,
)
from conveyor.ui.routes.artifact_files import Refusal, list_files, member

__all__ = [
    "MAX_SAMPLE_ROWS",
    "document",
    "sample_view",
    "statistics_view",
    "type_title",
    "view_kind",
    "view_of",
]

MAX_SAMPLE_ROWS = 200
"""Rows of a data sample at most (``rows=`` is capped to it)."""
MAX_TOP_VALUES = 12
MAX_DOCUMENT = 2_000_000
"""Bytes of a JSON document the views read at most."""

KINDS = {
    "conveyor.ExampleStatistics": "statistics",
    "conveyor.Statistics": "statistics",
    "conveyor.Schema": "schema",
    "conveyor.ExampleAnomalies": "anomalies",
    "conveyor.ModelEvaluation": "evaluation",
    "conveyor.ModelBlessing": "blessing",
    "conveyor.InfraBlessing": "infra_blessing",
    "conveyor.ModelCard": "model_card",
    "conveyor.PushedModel": "pushed_model",
    "conveyor.Examples": "examples",
    "conveyor.Dataset": "dataset",
    "conveyor.Model": "model",
    "conveyor.Metrics": "metrics",
}
"""View kinds by type title; any other type gets the ``files`` view."""

_DOCUMENTS = {
    "blessing": BLESSING_FILE,
    "infra_blessing": INFRA_FILE,
    "pushed_model": PUSH_FILE,
}


def type_title(art: ArtifactRecord) -> str:
    """``conveyor.Schema@1.0.0`` -> ``conveyor.Schema``."""
    return art.type_name.split("@")[0]


def view_kind(art: ArtifactRecord) -> str:
    """The kind of view the page draws for ``art``."""
    return KINDS.get(type_title(art), "files")


def _json_safe(value: Any) -> Any:
    """Non-finite floats become None (JSON has no NaN), recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def document(folder: str, name: str) -> dict[str, Any]:
    """The JSON document ``name`` of an artifact folder (404 if absent, 400 if not JSON)."""
    path = member(folder, name)
    if os.path.getsize(path) > MAX_DOCUMENT:
        raise Refusal(413, f"{name} is too large to view", "download it instead")
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refusal(400, f"{name} is not valid JSON: {exc}", "download it instead") from None
    if not isinstance(data, dict):
        raise Refusal(400, f"{name} is not a JSON object", "download it instead")
    return data


def statistics_view(folder: str) -> list[dict[str, Any]]:
    """Per split (and slice), per feature: type, count, missing, numeric summary, the
    standard histogram's buckets ``[low, high, count]`` and the top values ``[value, count]``."""
    from conveyor.data.model import StatisticsCollection

    stats = StatisticsCollection.from_dict(document(folder, "statistics.json"))
    out = []
    for ds in stats.datasets:
        features = []
        for f in ds.features:
            item: dict[str, Any] = {
                "name": f.name,
                "type": str(f.type),
                "count": f.count,
                "missing": f.missing,
            }
            if f.numeric is not None:
                n = f.numeric
                q = n.quantiles
                item["numeric"] = {
                    "min": n.min,
                    "max": n.max,
                    "mean": n.mean,
                    "std": n.std,
                    "zeros": n.zeros,
                    "median": q[len(q) // 2] if q else None,
                }
                hist = next((h for h in n.histograms if h.kind == "standard"), None)
                if hist is None and n.histograms:
                    hist = n.histograms[0]
                if hist is not None:
                    item["histogram"] = [[b.low, b.high, b.count] for b in hist.buckets]
            if f.string is not None:
                s = f.string
                item["unique"] = s.unique
                item["top_values"] = [[v.value, v.count] for v in s.top_values[:MAX_TOP_VALUES]]
            features.append(item)
        out.append(
            {"split": ds.name, "slice": ds.slice, "num_rows": ds.num_rows, "features": features}
        )
    return _json_safe(out)  # type: ignore[no-any-return]


def _schema_features(folder: str) -> list[dict[str, Any]]:
    from conveyor.data.schema import load_schema

    schema = load_schema(member(folder, "schema.yaml")).to_dict()
    rows = []
    for f in schema.get("features", []):
        values = f.get("values")
        rows.append(
            {
                "name": f.get("name"),
                "type": f.get("type"),
                "presence": f.get("min_fraction_present", 1.0),
                "values": values[:50] if values else None,
                "values_count": len(values) if values else 0,
                "min": f.get("min"),
                "max": f.get("max"),
                "drift_comparator": f.get("drift_comparator"),
                "skew_comparator": f.get("skew_comparator"),
            }
        )
    return _json_safe(rows)  # type: ignore[no-any-return]


def _anomalies(folder: str, schema_folder: str | None) -> dict[str, Any]:
    data = document(folder, "anomalies.json")
    items = []
    for path, info in sorted(data.get("anomaly_info", {}).items()):
        items.append(_anomaly(path, info))
    if data.get("dataset_anomaly_info"):
        items.append(_anomaly(None, data["dataset_anomaly_info"]))
    drift = []
    for d in data.get("drift_skew_info", []):
        for kind in ("drift_measurements", "skew_measurements"):
            for m in d.get(kind, []):
                drift.append(
                    {
                        "feature": d.get("path"),
                        "kind": kind.split("_")[0],
                        "comparator": m.get("type"),
                        "value": m.get("value"),
                        "threshold": m.get("threshold"),
                    }
                )
    hit = {a["feature"] for a in items if a["feature"]}
    schema = None
    if schema_folder is not None:
        try:
            schema = _schema_features(schema_folder)
        except Refusal:
            schema = None
        for f in schema or []:
            f["anomalous"] = f["name"] in hit
    return _json_safe({"anomalies": items, "drift_skew": drift, "schema": schema})  # type: ignore[no-any-return]


def _anomaly(path: str | None, info: dict[str, Any]) -> dict[str, Any]:
    return {
        "feature": path,
        "severity": info.get("severity"),
        "short_description": info.get("short_description", ""),
        "description": info.get("description", ""),
        "reasons": [r.get("type", "") for r in info.get("reasons", [])],
        "highlighted": info.get("severity") == "ERROR",
    }


def _evaluation(folder: str) -> dict[str, Any]:
    doc = document(folder, EVALUATION_FILE)
    slices = []
    for name, entry in sorted(
        (doc.get("slices") or {}).items(), key=lambda kv: (kv[0] != "overall", kv[0])
    ):
        slices.append(
            {
                "slice": name,
                "count": entry.get("count"),
                "too_small": bool(entry.get("too_small")),
                "metrics": entry.get("metrics", {}),
                "intervals": entry.get("intervals") or {},
                "changes": (doc.get("changes") or {}).get(name) or {},
            }
        )
    return _json_safe(  # type: ignore[no-any-return]
        {
            "task": doc.get("task"),
            "split": doc.get("split"),
            "slices": slices,
            "thresholds": (doc.get("config") or {}).get("thresholds", []),
            "bootstrap": doc.get("bootstrap"),
            "blessing": doc.get("blessing", {}),
            "fairness": doc.get("fairness"),
        }
    )


def sample_view(folder: str, split: str | None, rows: int) -> dict[str, Any]:
    """The first ``rows`` rows (capped) of a split of an ``Examples`` folder, or of a
    ``Dataset``'s Parquet/CSV file: ``{splits, split, columns: [{name, type}], rows}``."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    rows = max(1, min(rows, MAX_SAMPLE_ROWS))
    splits: list[str] = []
    if os.path.isdir(folder):
        splits = sorted(
            d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)) and d[0] != "."
        )
    if splits:
        if split is None:
            split = "train" if "train" in splits else splits[0]
        if split not in splits:
            raise Refusal(400, f"no split {split!r}", f"choose one of {', '.join(splits)}")
        base = os.path.join(folder, split)  # a listed sub-folder
    else:
        base = folder
    files, _ = list_files(base, limit=500)
    data = [str(f["path"]) for f in files if str(f["path"]).endswith((".parquet", ".csv"))]
    if not data:
        return {"splits": splits, "split": split, "columns": [], "rows": []}
    first = base if os.path.isfile(base) else member(base, data[0])
    table: pa.Table
    if first.endswith(".parquet"):
        batches = pq.ParquetFile(first).iter_batches(batch_size=rows)
        batch = next(batches, None)
        table = pa.Table.from_batches([batch]) if batch is not None else pa.table({})
    else:
        reader = pcsv.open_csv(first)
        table = pa.Table.from_batches([reader.read_next_batch()]).slice(0, rows)
    table = table.slice(0, rows)
    return _json_safe(  # type: ignore[no-any-return]
        {
            "splits": splits,
            "split": split,
            "columns": [{"name": f.name, "type": str(f.type)} for f in table.schema],
            "rows": [list(r.values()) for r in table.to_pylist()],
            "file": data[0],
        }
    )


def view_of(
    art: ArtifactRecord,
    folder: str,
    *,
    schema_folder: str | None = None,
    split: str | None = None,
    rows: int = 50,
) -> dict[str, Any]:
    """The typed view of ``art`` whose bytes are at ``folder`` (already checked)."""
    kind = view_kind(art)
    view: dict[str, Any] = {"kind": kind, "artifact": art.id, "type": type_title(art)}
    if kind == "statistics":
        view["datasets"] = statistics_view(folder)
    elif kind == "schema":
        view["features"] = _schema_features(folder)
    elif kind == "anomalies":
        view.update(_anomalies(folder, schema_folder))
    elif kind == "evaluation":
        view.update(_evaluation(folder))
    elif kind == "model_card":
        member(folder, CARD_HTML)  # 404 when the card has no page
        view["card_url"] = f"/api/v1/artifacts/{art.id}/card.html"
        view["properties"] = _json_safe(dict(art.properties))
    elif kind in _DOCUMENTS:
        view["document"] = _json_safe(document(folder, _DOCUMENTS[kind]))
    elif kind in ("examples", "dataset"):
        view["sample"] = sample_view(folder, split, rows)
        view["properties"] = _json_safe(dict(art.properties))
    elif kind == "model":
        from conveyor.model.saved import MANIFEST_FILE

        manifest = document(folder, MANIFEST_FILE) if os.path.isdir(folder) else {}
        view["manifest"] = _json_safe(manifest)
    elif kind == "metrics":
        view["values"] = _json_safe(
            {k: v for k, v in art.properties.items() if isinstance(v, int | float | str)}
        )
    if kind in ("files", "model", "metrics", "dataset"):
        files, truncated = list_files(folder)
        view["files"] = files
        view["files_truncated"] = truncated
    return view
