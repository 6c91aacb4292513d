"""The Data stage: examples, statistics, schema, validation (library code behind the
standard data components and the ``conveyor data`` commands).

The names below load on first use: ``example_gen`` resolves its input files through
:mod:`conveyor.data.files` on every run, cached or not, and needs none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    if name in __all__:
        from conveyor.data import model

        value = getattr(model, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'conveyor.data' has no attribute {name!r}")
