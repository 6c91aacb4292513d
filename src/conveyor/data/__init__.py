"""The Data stage: examples, statistics, schema, validation (library code behind the
standard data components and the ``conveyor data`` commands)."""

from conveyor.data.model import (
    Anomalies,
    AnomalyInfo,
    AnomalyReason,
    DataSchema,
    DatasetConstraints,
    DatasetStatistics,
    DriftSkewInfo,
    FeatureComparator,
    FeatureSchema,
    FeatureStatistics,
    FeatureType,
    Histogram,
    NumericStatistics,
    Severity,
    StatisticsCollection,
    StringStatistics,
)

__all__ = [
    "Anomalies",
    "AnomalyInfo",
    "AnomalyReason",
    "DataSchema",
    "DatasetConstraints",
    "DatasetStatistics",
    "DriftSkewInfo",
    "FeatureComparator",
    "FeatureSchema",
    "FeatureStatistics",
    "FeatureType",
    "Histogram",
    "NumericStatistics",
    "Severity",
    "StatisticsCollection",
    "StringStatistics",
]
