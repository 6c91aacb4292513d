"""Anomalies, drift and skew of hand-made statistics against a schema (TFDV names)."""

from __future__ import annotations

import copy

import pytest

from conveyor.data.model import (
    Anomalies,
    Bucket,
    DataSchema,
    DatasetConstraints,
    DatasetStatistics,
    FeatureComparator,
    FeatureSchema,
    FeatureStatistics,
    FeatureType,
    Histogram,
    NumericStatistics,
    Severity,
    StringStatistics,
    ValueCount,
)
from conveyor.data.validate import (
    anomalies_from_dict,
    anomalies_to_text,
    anomaly_count,
    print_anomalies,
    validate_statistics,
)

ROWS = 1000


def categorical(name: str, counts: dict[str, int], missing: int = 0) -> FeatureStatistics:
    top = [ValueCount(v, c) for v, c in sorted(counts.items(), key=lambda kv: -kv[1])]
    return FeatureStatistics(
        name, FeatureType.STRING, sum(counts.values()), missing,
        string=StringStatistics(unique=len(counts), top_values=top),
    )  # fmt: skip


def numeric(name, lo, hi, buckets, *, ftype=FeatureType.INT, missing=0, nan=0):
    hist = Histogram("quantiles", [Bucket(a, b, c) for a, b, c in buckets])
    return FeatureStatistics(
        name, ftype, ROWS - missing, missing,
        numeric=NumericStatistics(min=lo, max=hi, nan=nan, histograms=[hist]),
    )  # fmt: skip


def clean_stats(name: str = "eval") -> DatasetStatistics:
    return DatasetStatistics(
        name,
        ROWS,
        [
            numeric("age", 17, 90, [(17, 40, 500), (40, 90, 500)]),
            numeric("score", 0.0, 1.0, [(0, 0.5, 480), (0.5, 1, 490)], ftype=FeatureType.FLOAT,
                    missing=30),
            categorical("sex", {"M": 600, "F": 400}),
            categorical("label", {"0": 700, "1": 300}),
        ],
    )  # fmt: skip


def schema() -> DataSchema:
    return DataSchema(
        [
            FeatureSchema("age", FeatureType.INT, min=0, max=120,
                          drift_comparator=FeatureComparator(jensen_shannon_divergence=0.01),
                          skew_comparator=FeatureComparator(jensen_shannon_divergence=0.01)),
            FeatureSchema("score", FeatureType.FLOAT, 0.9, min=0.0, max=1.0),
            FeatureSchema("sex", FeatureType.STRING, values=["F", "M"],
                          drift_comparator=FeatureComparator(infinity_norm=0.01,
                                                             normalized_abs_difference=0.01),
                          skew_comparator=FeatureComparator(infinity_norm=0.01)),
            FeatureSchema("label", FeatureType.STRING, values=["0", "1"],
                          not_in_environments=["SERVING"]),
        ],
        dataset=DatasetConstraints(min_examples_count=10, max_examples_count=10**6,
                                   min_fraction_of_previous=0.5, max_fraction_of_previous=2.0),
    )  # fmt: skip


def reasons(found: Anomalies, path: str | None = None) -> set[str]:
    info = found.dataset_anomaly_info if path is None else found.anomaly_info.get(path)
    return {r.type for r in info.reasons} if info else set()


def test_clean_data_raises_no_anomaly_even_with_a_baseline_and_serving_data():
    serving = clean_stats("serving")
    serving.features = [f for f in serving.features if f.name != "label"]
    found = validate_statistics(
        clean_stats(), schema(), previous=clean_stats("train"), serving=serving
    )
    assert found.ok, anomalies_to_text(found)
    assert anomaly_count(found) == 0
    assert anomalies_to_text(found) == "No anomalies in split 'eval'."
    measured = {i.path: (i.drift_measurements, i.skew_measurements) for i in found.drift_skew_info}
    assert measured["age"][0][0] == {
        "type": "JENSEN_SHANNON_DIVERGENCE", "value": 0.0, "threshold": 0.01
    }  # fmt: skip
    assert {m["type"] for m in measured["sex"][0]} == {"L_INFTY", "NORMALIZED_ABSOLUTE_DIFFERENCE"}


def test_the_label_is_not_expected_at_serving_but_is_in_training():
    serving = clean_stats("serving")
    serving.features = [f for f in serving.features if f.name != "label"]
    assert validate_statistics(serving, schema(), environment="SERVING").ok
    found = validate_statistics(serving, schema(), environment="TRAINING")
    assert reasons(found, "label") == {"SCHEMA_MISSING_COLUMN"}


def _inject(name: str, **changes) -> DatasetStatistics:
    stats = clean_stats()
    feature = stats.feature(name)
    assert feature is not None
    for key, value in changes.items():
        target = feature.numeric if hasattr(feature.numeric, key) else feature
        setattr(target, key, value)
    return stats


@pytest.mark.parametrize(
    ("stats", "path", "expected"),
    [
        (_inject("age", min=-3), "age", "INT_TYPE_SMALL_INT"),
        (_inject("age", max=300), "age", "INT_TYPE_BIG_INT"),
        (_inject("score", min=-0.5), "score", "FLOAT_TYPE_SMALL_FLOAT"),
        (_inject("score", max=1.5), "score", "FLOAT_TYPE_BIG_FLOAT"),
        (_inject("score", nan=4), "score", "FLOAT_TYPE_HAS_NAN"),
        (_inject("score", count=500, missing=500), "score", "LOW_FRACTION_PRESENT"),
        (_inject("age", type=FeatureType.FLOAT), "age", "INT_TYPE_NOT_INT"),
        (_inject("age", type=FeatureType.STRING), "age", "INT_TYPE_NOT_INT_STRING"),
        (_inject("score", type=FeatureType.STRING), "score", "FLOAT_TYPE_STRING_NOT_FLOAT"),
        (_inject("sex", type=FeatureType.INT), "sex", "STRING_TYPE_NOW_INT"),
        (_inject("sex", type=FeatureType.FLOAT), "sex", "STRING_TYPE_NOW_FLOAT"),
        (_inject("sex", type=FeatureType.TIMESTAMP), "sex", "UNEXPECTED_DATA_TYPE"),
    ],
)
def test_each_injected_problem_is_caught(stats, path, expected):
    found = validate_statistics(stats, schema())
    assert reasons(found, path) == {expected}
    assert set(found.anomaly_info) == {path}
    info = found.anomaly_info[path]
    assert info.severity == Severity.ERROR and info.description and info.short_description


def test_a_new_category_is_reported_with_its_count_and_examples():
    stats = clean_stats()
    stats.features[2] = categorical("sex", {"M": 590, "F": 400, "X": 7, "?": 3})
    reason = validate_statistics(stats, schema()).anomaly_info["sex"].reasons[0]
    assert reason.type == "ENUM_TYPE_UNEXPECTED_STRING_VALUES"
    assert reason.count == 10
    assert "'X'" in reason.description and "'?'" in reason.description


def test_missing_and_new_columns():
    stats = clean_stats()
    stats.features = [f for f in stats.features if f.name != "sex"]
    stats.features.append(categorical("city", {"Paris": 1000}))
    found = validate_statistics(stats, schema())
    assert reasons(found, "sex") == {"SCHEMA_MISSING_COLUMN"}
    assert reasons(found, "city") == {"SCHEMA_NEW_COLUMN"}
    assert found.anomaly_info["city"].reasons[0].count == 1000


def test_an_optional_feature_may_be_absent():
    s = schema()
    s.features[1].min_fraction_present = 0.0
    stats = clean_stats()
    stats.features = [f for f in stats.features if f.name != "score"]
    assert validate_statistics(stats, s).ok


def test_empty_data_is_no_data_in_span():
    found = validate_statistics(DatasetStatistics("eval", 0), schema())
    assert found.data_missing and not found.ok
    assert "NO_DATA_IN_SPAN" in reasons(found)
    assert "DATASET_LOW_NUM_EXAMPLES" in reasons(found)
    assert found.anomaly_info == {}  # no per-feature noise on top


def test_row_count_bounds_and_change_versus_the_previous_span():
    s = schema()
    s.dataset.min_examples_count = 2000
    assert reasons(validate_statistics(clean_stats(), s)) == {"DATASET_LOW_NUM_EXAMPLES"}
    s = schema()
    s.dataset.max_examples_count = 500
    assert reasons(validate_statistics(clean_stats(), s)) == {"DATASET_HIGH_NUM_EXAMPLES"}
    big_previous = clean_stats("prev")
    big_previous.num_rows = 3000
    found = validate_statistics(clean_stats(), schema(), previous=big_previous)
    assert reasons(found) == {"COMPARATOR_LOW_NUM_EXAMPLES"}
    small_previous = clean_stats("prev")
    small_previous.num_rows = 400
    found = validate_statistics(clean_stats(), schema(), previous=small_previous)
    assert reasons(found) == {"COMPARATOR_HIGH_NUM_EXAMPLES"}
    assert anomaly_count(found) == 1


def _drifted() -> DatasetStatistics:
    stats = clean_stats("next")
    stats.features[0] = numeric("age", 17, 90, [(17, 40, 300), (40, 90, 700)])
    stats.features[2] = categorical("sex", {"M": 500, "F": 500})
    return stats


def test_drift_is_measured_against_the_previous_span_with_the_schema_thresholds():
    found = validate_statistics(_drifted(), schema(), previous=clean_stats("prev"))
    assert reasons(found, "age") == {"COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"}
    assert reasons(found, "sex") == {
        "COMPARATOR_L_INFTY_HIGH",
        "COMPARATOR_NORMALIZED_ABSOLUTE_DIFFERENCE_HIGH",
    }
    sex = next(i for i in found.drift_skew_info if i.path == "sex")
    linf = next(m for m in sex.drift_measurements if m["type"] == "L_INFTY")
    assert linf["value"] == pytest.approx(0.1)  # 0.6 -> 0.5
    assert "largest at 'F'" in found.anomaly_info["sex"].description
    relaxed = schema()
    relaxed.features[0].drift_comparator = FeatureComparator(jensen_shannon_divergence=0.5)
    relaxed.features[2].drift_comparator = FeatureComparator(infinity_norm=0.2)
    assert validate_statistics(_drifted(), relaxed, previous=clean_stats("prev")).ok


def test_skew_compares_training_with_serving_using_skew_thresholds():
    serving = _drifted()
    found = validate_statistics(clean_stats("train"), schema(), serving=serving)
    assert reasons(found, "age") == {"COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"}
    assert reasons(found, "sex") == {"COMPARATOR_L_INFTY_HIGH"}
    assert "training and serving" in found.anomaly_info["sex"].short_description
    assert all(not i.drift_measurements for i in found.drift_skew_info)


def test_reports_in_text_json_and_a_table():
    stats = copy.deepcopy(clean_stats())
    stats.features[0].numeric.max = 300  # type: ignore[union-attr]
    found = validate_statistics(stats, schema(), previous=DatasetStatistics("prev", 5000))
    text = anomalies_to_text(found)
    assert "age: ERROR INT_TYPE_BIG_INT" in text
    assert "(dataset): ERROR COMPARATOR_LOW_NUM_EXAMPLES [1000]" in text
    assert anomalies_from_dict(found.to_dict()) == found

    from rich.console import Console

    console = Console(record=True, width=200)
    print_anomalies(found, console)
    table = console.export_text()
    assert "INT_TYPE_BIG_INT" in table and "2 anomalous feature(s)" in table
