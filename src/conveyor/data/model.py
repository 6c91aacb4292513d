"""The data model of the Data stage: statistics, schema and anomalies, as JSON-ready dataclasses.

These are the contracts between StatisticsGen, SchemaGen, ExampleValidator, the ``conveyor
data`` commands and the HTML views. Names follow TFDV where they apply to tabular data
(``../shared/reference/tfx-shapes.md``), so TFDV users recognise them.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "CDF_EXACT_VALUES",
    "FLOAT_PATTERN",
    "INT_PATTERN",
    "VALUE_COUNTS_LIMIT",
    "Anomalies",
    "AnomalyInfo",
    "AnomalyReason",
    "Bucket",
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
    "ValueCount",
    "ValueCountRange",
]

STATS_FORMAT_VERSION = 1
SCHEMA_FORMAT_VERSION = 1
# Text that Arrow reads as an int64 / a float64 (type anomalies count the values that do not)
INT_PATTERN = r"^-?(?:\d+|0[xX][0-9a-fA-F]+)$"
FLOAT_PATTERN = r"^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:nan|inf|infinity))$"
CDF_EXACT_VALUES = 256  # numbers: the distribution keeps every value up to this many
VALUE_COUNTS_LIMIT = 1_000  # strings: every value's exact count is kept up to this many values


class FeatureType(enum.StrEnum):
    """Logical type of a column."""

    INT = "INT"
    FLOAT = "FLOAT"
    STRING = "STRING"  # free text or a categorical: the schema's domain says which
    BOOL = "BOOL"
    TIMESTAMP = "TIMESTAMP"


class Severity(enum.StrEnum):
    """How bad an anomaly is (TFDV: WARNING | ERROR)."""

    WARNING = "WARNING"
    ERROR = "ERROR"


# --- statistics -------------------------------------------------------------------------------


@dataclass
class Bucket:
    """One histogram bucket: (low, high] with a (possibly weighted) count; the first bucket
    of a histogram also holds its low value (TFDV's convention)."""

    low: float
    high: float
    count: float


@dataclass
class Histogram:
    """``kind`` is ``standard`` (equal-width buckets) or ``quantiles`` (equal-count)."""

    kind: str
    buckets: list[Bucket] = field(default_factory=list)


@dataclass
class ValueCount:
    """A value and how often it occurs."""

    value: str
    count: float


@dataclass
class NumericStatistics:
    """Statistics of a numeric (INT, FLOAT, BOOL, TIMESTAMP as epoch) column."""

    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    zeros: int = 0
    nan: int = 0
    infinity: int = 0
    quantiles: list[float] = field(default_factory=list)  # 0%, 10%, ..., 100% (11 values)
    histograms: list[Histogram] = field(default_factory=list)
    # Knots of the distribution function of the finite values, ``[x, below, at_or_below]``
    # (fractions of values < x and <= x), in increasing x: every value while there are at most
    # CDF_EXACT_VALUES, else the percentiles and every value holding 0.5% or more (point
    # masses such as the zeros of a zero-inflated column). Drift and skew comparisons use
    # them to place mass inside histogram buckets instead of assuming it uniform.
    cdf: list[list[float]] = field(default_factory=list)


@dataclass
class StringStatistics:
    """Statistics of a string (categorical or text) column."""

    unique: int = 0  # exact below the sketch threshold, else an HLL estimate
    top_values: list[ValueCount] = field(default_factory=list)  # most frequent first
    avg_length: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    # Every value with its exact count, most frequent first, while the feature has at most
    # VALUE_COUNTS_LIMIT (1,000) distinct values; None past it (or in statistics written before
    # this field existed): domain checks are then approximate (top values and ``unique``).
    value_counts: list[ValueCount] | None = None
    not_float: int | None = None  # text values that do not read as a number (None: not counted)
    not_int: int | None = None  # text values that do not read as an integer

    @property
    def known_values(self) -> list[ValueCount]:
        """Every value with its count when the statistics keep them, else the top values.

        Example:
            >>> StringStatistics(top_values=[ValueCount("a", 3)]).known_values
            [ValueCount(value='a', count=3)]
        """
        return self.value_counts if self.value_counts is not None else self.top_values


@dataclass
class FeatureStatistics:
    """Statistics of one column in one split (or slice)."""

    name: str
    type: FeatureType
    count: int  # non-missing values
    missing: int
    numeric: NumericStatistics | None = None
    string: StringStatistics | None = None
    weighted_count: float | None = None


@dataclass
class DatasetStatistics:
    """Statistics of one split (``name`` = split) or one slice (``slice`` = 'sex=Female')."""

    name: str
    num_rows: int
    features: list[FeatureStatistics] = field(default_factory=list)
    weighted_num_rows: float | None = None
    slice: str | None = None

    def feature(self, name: str) -> FeatureStatistics | None:
        """The statistics of column ``name``, if present."""
        return next((f for f in self.features if f.name == name), None)


@dataclass
class StatisticsCollection:
    """The content of an ``ExampleStatistics`` artifact: one entry per split and slice."""

    datasets: list[DatasetStatistics] = field(default_factory=list)
    version: int = STATS_FORMAT_VERSION

    def split(self, name: str) -> DatasetStatistics | None:
        """The unsliced statistics of split ``name``."""
        return next((d for d in self.datasets if d.name == name and d.slice is None), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StatisticsCollection:
        """Read the JSON form."""
        datasets = []
        for d in data.get("datasets", []):
            features = []
            for f in d.get("features", []):
                numeric = f.get("numeric")
                if numeric is not None:
                    numeric = NumericStatistics(
                        **{
                            **numeric,
                            "histograms": [
                                Histogram(h["kind"], [Bucket(**b) for b in h["buckets"]])
                                for h in numeric.get("histograms", [])
                            ],
                        }
                    )
                string = f.get("string")
                if string is not None:
                    string = StringStatistics(
                        **{
                            **string,
                            "top_values": [ValueCount(**v) for v in string.get("top_values", [])],
                            "value_counts": None
                            if string.get("value_counts") is None
                            else [ValueCount(**v) for v in string["value_counts"]],
                        }
                    )
                features.append(
                    FeatureStatistics(
                        name=f["name"],
                        type=FeatureType(f["type"]),
                        count=f["count"],
                        missing=f["missing"],
                        numeric=numeric,
                        string=string,
                        weighted_count=f.get("weighted_count"),
                    )
                )
            datasets.append(
                DatasetStatistics(
                    name=d["name"],
                    num_rows=d["num_rows"],
                    features=features,
                    weighted_num_rows=d.get("weighted_num_rows"),
                    slice=d.get("slice"),
                )
            )
        return cls(datasets=datasets, version=int(data.get("version", STATS_FORMAT_VERSION)))


# --- schema -----------------------------------------------------------------------------------


@dataclass
class FeatureComparator:
    """Drift or skew thresholds of a feature; unset comparators are not checked.

    ``infinity_norm``: L-infinity distance between categorical distributions (top values);
    ``jensen_shannon_divergence`` with ``jsd_source`` ``standard`` or ``quantiles`` histograms;
    ``normalized_abs_difference``: max |x_i - y_i| / sum(x_i + y_i).
    """

    infinity_norm: float | None = None
    jensen_shannon_divergence: float | None = None
    jsd_source: str = "standard"  # the histogram TFDV's figures match on (see data docs)
    normalized_abs_difference: float | None = None


@dataclass
class ValueCountRange:
    """How many values a feature has per example (TFDV's ``value_count``); tabular data has
    one, so Conveyor keeps it for the TFX round trip and does not check it."""

    min: int | None = None
    max: int | None = None


@dataclass
class FeatureSchema:
    """What a column must look like.

    ``domain`` names one of the schema's ``string_domains`` (a TFDV global string domain):
    ``values`` then come from it. ``min_count``, ``value_count``, ``shape`` and ``tfx`` (the
    TFDV fields Conveyor has no name for, in protobuf text format) come from a TFDV
    ``schema.pbtxt`` and go back into it; Conveyor does not check them.
    """

    name: str
    type: FeatureType
    min_fraction_present: float = 1.0  # presence: fraction of rows with a value
    values: list[str] | None = None  # categorical domain (None: free text or numeric)
    min: float | None = None  # numeric range (inclusive)
    max: float | None = None
    allow_nan: bool = False  # FLOAT: NaN values are accepted (else FLOAT_TYPE_HAS_NAN)
    drift_comparator: FeatureComparator | None = None
    skew_comparator: FeatureComparator | None = None
    in_environments: list[str] | None = None  # None: every environment
    not_in_environments: list[str] = field(default_factory=list)
    description: str = ""
    domain: str | None = None  # the name of a global string domain (string_domains)
    min_count: int | None = None  # TFDV presence.min_count
    value_count: ValueCountRange | None = None
    shape: list[int] | None = None  # TFDV fixed shape, e.g. [1]
    tfx: str = ""  # other TFDV Feature fields, protobuf text format


@dataclass
class DatasetConstraints:
    """Dataset-level checks: row count bounds and change versus the previous span."""

    min_examples_count: int | None = None
    max_examples_count: int | None = None
    min_fraction_of_previous: float | None = None  # num_examples_drift_comparator
    max_fraction_of_previous: float | None = None


@dataclass
class DataSchema:
    """The content of a ``Schema`` artifact (``conveyor.types.Schema``): YAML or JSON."""

    features: list[FeatureSchema] = field(default_factory=list)
    dataset: DatasetConstraints = field(default_factory=DatasetConstraints)
    default_environments: list[str] = field(default_factory=list)
    string_domains: dict[str, list[str]] = field(default_factory=dict)  # name -> values
    tfx: str = ""  # other TFDV Schema fields (sparse features, ...), protobuf text format
    version: int = SCHEMA_FORMAT_VERSION

    def feature(self, name: str) -> FeatureSchema | None:
        """The schema of column ``name``, if declared."""
        return next((f for f in self.features if f.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-ready form (unset fields left out, so a curated file stays short)."""

        def clean(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items() if v not in (None, [], {}, "")}
            if isinstance(value, list):
                return [clean(v) for v in value]
            if isinstance(value, enum.Enum):
                return value.value
            return value

        data = clean(asdict(self))
        for f in data.get("features", []):
            if f.get("domain") in self.string_domains:
                f.pop("values", None)  # in string_domains
        return data  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataSchema:
        """Read the JSON/YAML form."""
        domains = {str(k): [str(v) for v in vs] for k, vs in data.get("string_domains", {}).items()}
        features = []
        for f in data.get("features", []):
            kwargs = dict(f)
            kwargs["type"] = FeatureType(kwargs["type"])
            for key in ("drift_comparator", "skew_comparator"):
                if kwargs.get(key) is not None:
                    kwargs[key] = FeatureComparator(**kwargs[key])
            if kwargs.get("value_count") is not None:
                kwargs["value_count"] = ValueCountRange(**kwargs["value_count"])
            if kwargs.get("domain") is not None:
                if kwargs.get("values") is not None:
                    raise ValueError(
                        f"feature {f['name']!r}: give either values or domain, not both"
                    )
                if kwargs["domain"] not in domains:
                    raise ValueError(
                        f"feature {f['name']!r}: domain {kwargs['domain']!r} is not one of "
                        f"string_domains {sorted(domains)!r}"
                    )
                kwargs["values"] = list(domains[kwargs["domain"]])
            features.append(FeatureSchema(**kwargs))
        return cls(
            features=features,
            dataset=DatasetConstraints(**data.get("dataset", {})),
            default_environments=list(data.get("default_environments", [])),
            string_domains=domains,
            tfx=str(data.get("tfx", "")),
            version=int(data.get("version", SCHEMA_FORMAT_VERSION)),
        )


# --- anomalies --------------------------------------------------------------------------------


@dataclass
class AnomalyReason:
    """One reason a feature (or the dataset) is anomalous; ``type`` is a TFDV anomaly name
    such as ``ENUM_TYPE_UNEXPECTED_STRING_VALUES`` or ``COMPARATOR_L_INFTY_HIGH``."""

    type: str
    short_description: str
    description: str
    count: int | None = None  # how many values or rows are concerned, when countable


@dataclass
class AnomalyInfo:
    """The anomalies of one feature (``path`` is the column name)."""

    path: str
    severity: Severity
    short_description: str
    description: str
    reasons: list[AnomalyReason] = field(default_factory=list)


@dataclass
class DriftSkewInfo:
    """Drift/skew measurements of one feature: ``{"type", "value", "threshold"}`` each."""

    path: str
    drift_measurements: list[dict[str, Any]] = field(default_factory=list)
    skew_measurements: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Anomalies:
    """The content of an ``ExampleAnomalies`` artifact (TFDV's Anomalies shape)."""

    anomaly_info: dict[str, AnomalyInfo] = field(default_factory=dict)
    dataset_anomaly_info: AnomalyInfo | None = None
    drift_skew_info: list[DriftSkewInfo] = field(default_factory=list)
    data_missing: bool = False
    split: str | None = None

    @property
    def ok(self) -> bool:
        """Whether nothing is anomalous."""
        return not self.anomaly_info and self.dataset_anomaly_info is None and not self.data_missing

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)
