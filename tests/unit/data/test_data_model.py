"""The Data stage's JSON contracts round-trip exactly."""

from __future__ import annotations

import json

from conveyor.data.model import (
    Anomalies,
    AnomalyInfo,
    AnomalyReason,
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
    StatisticsCollection,
    StringStatistics,
    ValueCount,
)


def _stats() -> StatisticsCollection:
    age = FeatureStatistics(
        "age",
        FeatureType.INT,
        count=9,
        missing=1,
        numeric=NumericStatistics(
            min=17,
            max=90,
            mean=38.5,
            std=13.1,
            zeros=0,
            quantiles=[17.0 + i for i in range(11)],
            histograms=[Histogram("standard", [Bucket(17, 53.5, 6), Bucket(53.5, 90, 3)])],
        ),
    )
    sex = FeatureStatistics(
        "sex",
        FeatureType.STRING,
        count=10,
        missing=0,
        string=StringStatistics(
            unique=2,
            top_values=[ValueCount("Male", 6), ValueCount("Female", 4)],
            avg_length=4.8,
            min_length=4,
            max_length=6,
        ),
    )
    return StatisticsCollection(
        [
            DatasetStatistics("train", 10, [age, sex]),
            DatasetStatistics("train", 4, [sex], slice="sex=Female"),
        ]
    )


def test_statistics_round_trip_through_json():
    stats = _stats()
    again = StatisticsCollection.from_dict(json.loads(json.dumps(stats.to_dict())))
    assert again == stats
    assert again.split("train") is not None and again.split("train").slice is None
    assert again.split("train").feature("age").numeric.histograms[0].buckets[1].count == 3
    assert again.split("eval") is None


def test_schema_round_trip_and_leaves_unset_fields_out():
    schema = DataSchema(
        features=[
            FeatureSchema(
                "age",
                FeatureType.INT,
                min=0,
                max=120,
                drift_comparator=FeatureComparator(jensen_shannon_divergence=0.01),
            ),
            FeatureSchema(
                "sex", FeatureType.STRING, values=["Female", "Male"], min_fraction_present=0.99
            ),
            FeatureSchema("label", FeatureType.STRING, not_in_environments=["SERVING"]),
        ],
        dataset=DatasetConstraints(min_examples_count=100),
        default_environments=["TRAINING", "SERVING"],
    )
    data = schema.to_dict()
    assert data["features"][0]["type"] == "INT"
    assert "values" not in data["features"][0]  # unset: left out of the curated file
    assert DataSchema.from_dict(json.loads(json.dumps(data))) == schema


def test_anomalies_are_ok_only_when_empty():
    assert Anomalies().ok
    info = AnomalyInfo(
        "sex",
        Severity.ERROR,
        "Unexpected string values",
        "Examples contain values missing from the schema: Other (3 examples).",
        [
            AnomalyReason(
                "ENUM_TYPE_UNEXPECTED_STRING_VALUES", "Unexpected string values", "Other", count=3
            )
        ],
    )
    found = Anomalies(anomaly_info={"sex": info})
    assert not found.ok
    assert json.loads(json.dumps(found.to_dict()))["anomaly_info"]["sex"]["severity"] == "ERROR"
