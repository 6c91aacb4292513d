"""HTML views of data artifacts for notebooks: statistics, schema, anomalies."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa

from conveyor.data.stats import compute_statistics
from conveyor.data.views import anomalies_html, artifact_html, schema_html
from conveyor.execution.results import ArtifactRef
from conveyor.types import Dataset, ExampleAnomalies, ExampleStatistics

ANOMALIES = {
    "anomaly_info": {
        "sex": {
            "path": "sex",
            "severity": "ERROR",
            "short_description": "Unexpected string values",
            "description": "Examples contain values missing from the schema: Other (3).",
            "reasons": [{"type": "ENUM_TYPE_UNEXPECTED_STRING_VALUES"}],
        }
    },
    "dataset_anomaly_info": None,
    "drift_skew_info": [
        {
            "path": "age",
            "drift_measurements": [
                {"type": "JENSEN_SHANNON_DIVERGENCE", "value": 0.0135, "threshold": 0.01}
            ],
            "skew_measurements": [],
        }
    ],
}


def _no_network(page: str) -> None:
    assert not re.search(r"(src|href)=[\"']https?://", page)


def test_anomalies_html_highlights_errors_and_lists_drift():
    page = anomalies_html(ANOMALIES)
    assert 'class="cv-err"' in page and "ENUM_TYPE_UNEXPECTED_STRING_VALUES" in page
    assert "JENSEN_SHANNON_DIVERGENCE" in page and "0.0135" in page
    assert "No anomalies" in anomalies_html({"anomaly_info": {}})
    _no_network(page)


def test_schema_html_lists_features_domains_and_comparators():
    page = schema_html(
        {
            "features": [
                {"name": "sex", "type": "STRING", "values": ["Female", "Male"]},
                {
                    "name": "age",
                    "type": "INT",
                    "min": 0,
                    "max": 120,
                    "drift_comparator": {"jensen_shannon_divergence": 0.01},
                },
            ]
        }
    )
    assert "Female, Male" in page and "[0, 120]" in page and "drift_comparator" in page


def test_artifacts_render_their_type_view_in_a_notebook(tmp_path: Path):
    stats_dir = tmp_path / "stats"
    stats_dir.mkdir()
    stats = compute_statistics(pa.table({"age": [30, 40, None], "sex": ["F", "M", "M"]}))
    (stats_dir / "statistics.json").write_text(json.dumps(stats.to_dict()))
    art = ExampleStatistics(name="statistics", uri=str(stats_dir), path=str(stats_dir))
    page = art._repr_html_()
    assert "age" in page and "sex" in page and "<svg" in page
    ref = ArtifactRef(1, str(stats_dir), ExampleStatistics.type_id())
    assert ref._repr_html_() == page
    anomalies_dir = tmp_path / "anomalies"
    anomalies_dir.mkdir()
    (anomalies_dir / "anomalies.json").write_text(json.dumps(ANOMALIES))
    assert "cv-err" in ExampleAnomalies(uri=str(anomalies_dir))._repr_html_()


def test_other_artifacts_show_their_identity_and_metadata(tmp_path: Path):
    data = Dataset(uri=str(tmp_path / "d.csv"), metadata={"rows": 3})
    page = data._repr_html_()
    assert "conveyor.Dataset" in page and "rows" in page
    assert artifact_html("conveyor.Dataset", str(tmp_path)) is None
