"""Validate statistics against a schema: anomalies, drift versus the previous span, and skew
versus serving data, with TFDV's anomaly names."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from conveyor.data.comparators import (
    jensen_shannon_divergence,
    jensen_shannon_divergence_of_counts,
    l_infinity,
    normalized_abs_difference,
    value_counts,
)
from conveyor.data.model import (
    FLOAT_PATTERN,
    INT_PATTERN,
    VALUE_COUNTS_LIMIT,
    Anomalies,
    AnomalyInfo,
    AnomalyReason,
    DataSchema,
    DatasetStatistics,
    DriftSkewInfo,
    FeatureComparator,
    FeatureSchema,
    FeatureStatistics,
    FeatureType,
    Histogram,
    Severity,
)

__all__ = [
    "anomalies_from_dict",
    "anomalies_to_text",
    "anomaly_count",
    "expected_in_environment",
    "print_anomalies",
    "validate_statistics",
]

_MAX_EXAMPLES = 10
_TYPE_EXAMPLES = 5

# (schema type, data type) -> anomaly name; absent pairs are compatible or UNEXPECTED_DATA_TYPE
_TYPE_ANOMALY = {
    (FeatureType.INT, FeatureType.STRING): "INT_TYPE_NOT_INT_STRING",
    (FeatureType.INT, FeatureType.FLOAT): "INT_TYPE_NOT_INT",
    (FeatureType.FLOAT, FeatureType.STRING): "FLOAT_TYPE_STRING_NOT_FLOAT",
    (FeatureType.STRING, FeatureType.INT): "STRING_TYPE_NOW_INT",
    (FeatureType.STRING, FeatureType.FLOAT): "STRING_TYPE_NOW_FLOAT",
    (FeatureType.BOOL, FeatureType.STRING): "BOOL_TYPE_UNEXPECTED_STRING",
    (FeatureType.BOOL, FeatureType.FLOAT): "BOOL_TYPE_UNEXPECTED_FLOAT",
}
_COMPATIBLE = {
    (FeatureType.FLOAT, FeatureType.INT),
    (FeatureType.FLOAT, FeatureType.BOOL),
    (FeatureType.INT, FeatureType.BOOL),
    (FeatureType.BOOL, FeatureType.INT),  # checked for 0/1 below
}


def expected_in_environment(feature: FeatureSchema, environment: str | None) -> bool:
    """Whether ``feature`` must be present in data of ``environment`` (None: every feature).

    ``in_environments`` lists the only environments a feature is in; otherwise it is in every
    environment but those in ``not_in_environments`` (e.g. the label at ``SERVING``).

    Example:
        >>> label = FeatureSchema("y", FeatureType.INT, not_in_environments=["SERVING"])
        >>> expected_in_environment(label, "SERVING"), expected_in_environment(label, "TRAINING")
        (False, True)
    """
    if environment is None:
        return True
    if feature.in_environments is not None:
        return environment in feature.in_environments
    return environment not in feature.not_in_environments


class _Collector:
    def __init__(self) -> None:
        self.features: dict[str, list[tuple[Severity, AnomalyReason]]] = {}
        self.dataset: list[tuple[Severity, AnomalyReason]] = []

    def add(
        self,
        path: str | None,
        kind: str,
        short: str,
        description: str,
        *,
        count: float | None = None,
        severity: Severity = Severity.ERROR,
    ) -> None:
        reason = AnomalyReason(kind, short, description, None if count is None else int(count))
        target = self.dataset if path is None else self.features.setdefault(path, [])
        target.append((severity, reason))


def _info(path: str, found: list[tuple[Severity, AnomalyReason]]) -> AnomalyInfo:
    reasons = [r for _, r in found]
    severity = Severity.ERROR if any(s == Severity.ERROR for s, _ in found) else Severity.WARNING
    short = reasons[0].short_description if len(reasons) == 1 else "Multiple errors"
    return AnomalyInfo(
        path=path,
        severity=severity,
        short_description=short,
        description=" ".join(r.description for r in reasons),
        reasons=reasons,
    )


def _fmt(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def _check_dataset(
    stats: DatasetStatistics,
    schema: DataSchema,
    previous: DatasetStatistics | None,
    out: _Collector,
) -> None:
    c = schema.dataset
    n = stats.num_rows
    if c.min_examples_count is not None and n < c.min_examples_count:
        out.add(
            None,
            "DATASET_LOW_NUM_EXAMPLES",
            "Low num examples in dataset",
            f"The data set has {n} examples, fewer than the minimum {c.min_examples_count}.",
            count=n,
        )
    if c.max_examples_count is not None and n > c.max_examples_count:
        out.add(
            None,
            "DATASET_HIGH_NUM_EXAMPLES",
            "High num examples in dataset",
            f"The data set has {n} examples, more than the maximum {c.max_examples_count}.",
            count=n,
        )
    if previous is None or previous.num_rows <= 0:
        return
    ratio = n / previous.num_rows
    if c.min_fraction_of_previous is not None and ratio < c.min_fraction_of_previous:
        out.add(
            None,
            "COMPARATOR_LOW_NUM_EXAMPLES",
            "Num examples dropped versus the previous span",
            f"The data set has {n} examples, {ratio:.3g} times the previous span's "
            f"{previous.num_rows}; the minimum is {c.min_fraction_of_previous:g}.",
            count=n,
        )
    if c.max_fraction_of_previous is not None and ratio > c.max_fraction_of_previous:
        out.add(
            None,
            "COMPARATOR_HIGH_NUM_EXAMPLES",
            "Num examples grew versus the previous span",
            f"The data set has {n} examples, {ratio:.3g} times the previous span's "
            f"{previous.num_rows}; the maximum is {c.max_fraction_of_previous:g}.",
            count=n,
        )


def _check_type(fs: FeatureSchema, f: FeatureStatistics, out: _Collector) -> bool:
    """Record a type mismatch; True when the data type is compatible with the schema."""
    pair = (fs.type, f.type)
    if fs.type == f.type or f.count == 0:
        return True
    if pair == (FeatureType.BOOL, FeatureType.INT) and f.numeric is not None:
        lo, hi = f.numeric.min, f.numeric.max
        if lo is not None and lo < 0:
            out.add(
                fs.name,
                "BOOL_TYPE_SMALL_INT",
                "Non-boolean values",
                f"Expected 0 or 1, found {lo:g}.",
            )
            return False
        if hi is not None and hi > 1:
            out.add(
                fs.name,
                "BOOL_TYPE_BIG_INT",
                "Non-boolean values",
                f"Expected 0 or 1, found {hi:g}.",
            )
            return False
        return True
    if pair in _COMPATIBLE:
        return True
    kind = _TYPE_ANOMALY.get(pair, "UNEXPECTED_DATA_TYPE")
    offending, detail = _offending(fs.type, f)
    out.add(
        fs.name,
        kind,
        "Unexpected data type",
        f"Expected data of type {fs.type.value}, got {f.type.value}{detail}.",
        count=offending,
    )
    return False


_NOT_A = {FeatureType.INT: "an integer", FeatureType.FLOAT: "a number"}


def _offending(wanted: FeatureType, f: FeatureStatistics) -> tuple[int, str]:
    """How many values of a text feature do not fit the schema's numeric type, and a few of
    them: ``(332, ": 332 of 32561 values are not a number, e.g. '?' (332)")``."""
    s = f.string
    counted = None if s is None else (s.not_int if wanted == FeatureType.INT else s.not_float)
    if f.type != FeatureType.STRING or wanted not in _NOT_A or s is None or counted is None:
        return f.count, f" ({f.count} values)"
    pattern = re.compile(INT_PATTERN if wanted == FeatureType.INT else FLOAT_PATTERN)
    listed = s.known_values
    misfits = [v for v in listed if not pattern.fullmatch(v.value)][:_TYPE_EXAMPLES]
    shown = ", ".join(f"{v.value!r} ({v.count:g})" for v in misfits)
    example = f", e.g. {shown}" if shown else ""
    return counted, f": {counted} of {f.count} values are not {_NOT_A[wanted]}{example}"


def _check_domain(fs: FeatureSchema, f: FeatureStatistics, out: _Collector) -> None:
    """ENUM_TYPE_UNEXPECTED_STRING_VALUES against every value of the data when the statistics
    have them all (up to ``VALUE_COUNTS_LIMIT`` distinct values); past that, against the top
    values and the distinct-count estimate, and the report says the check is approximate."""
    assert fs.values is not None and f.string is not None
    domain = set(fs.values)
    s = f.string
    seen = s.known_values
    # top values that cover every present value are complete too (older statistics files)
    exact = s.value_counts is not None or sum(v.count for v in seen) >= f.count * (1 - 1e-9)
    unexpected = [v for v in seen if v.value not in domain]
    # Past the limit, more distinct values than the domain holds means some are outside it
    # (beyond the HLL estimate's error); they need not be among the top values.
    outside_estimate = 0 if exact else s.unique - len(domain)
    surely_outside = outside_estimate > max(0.03 * len(domain), 1)
    why = (
        f"the feature has about {s.unique} distinct values, more than the "
        f"{VALUE_COUNTS_LIMIT:,} whose counts the statistics keep"
        if s.unique > VALUE_COUNTS_LIMIT
        else "the statistics list only the most frequent values (written by an older version)"
    )
    if not unexpected and not surely_outside:
        if not exact and s.unique > 0:
            out.add(
                fs.name,
                "ENUM_TYPE_CHECK_APPROXIMATE",
                "Domain checked approximately",
                f"Approximate domain check: {why}; its {len(s.top_values)} most frequent "
                "values are all in the domain, the others were not checked.",
                severity=Severity.WARNING,
            )
        return
    examples = ", ".join(f"{v.value!r} ({v.count:g})" for v in unexpected[:_MAX_EXAMPLES])
    total = sum(v.count for v in unexpected)
    if exact:
        extra = len(unexpected) - _MAX_EXAMPLES
        more = f" and {extra} more" if extra > 0 else ""
        text = (
            f"{len(unexpected)} value(s) outside the domain, in {total:g} examples: "
            f"{examples}{more}."
        )
    else:
        distinct = max(len(unexpected), outside_estimate)
        listed = f"; among the most frequent: {examples}" if unexpected else ""
        text = (
            f"About {distinct} distinct value(s) outside the domain (approximate: {why}){listed}."
        )
    out.add(
        fs.name,
        "ENUM_TYPE_UNEXPECTED_STRING_VALUES",
        "Unexpected string values",
        text,
        count=total if exact else None,
    )


def _check_feature(fs: FeatureSchema, f: FeatureStatistics, num_rows: int, out: _Collector) -> None:
    if num_rows > 0:
        present = f.count / num_rows
        if present < fs.min_fraction_present:
            out.add(
                fs.name,
                "LOW_FRACTION_PRESENT",
                "Column dropped",
                f"The feature was present in {present:.2%} of the examples "
                f"({f.missing} missing), less than the required "
                f"{fs.min_fraction_present:.2%}.",
                count=f.missing,
            )
    if not _check_type(fs, f, out):
        return
    if fs.values is not None and f.string is not None:
        _check_domain(fs, f, out)
    num = f.numeric
    if num is None:
        return
    is_float = fs.type == FeatureType.FLOAT
    if fs.min is not None and num.min is not None and num.min < fs.min:
        out.add(
            fs.name,
            "FLOAT_TYPE_SMALL_FLOAT" if is_float else "INT_TYPE_SMALL_INT",
            "Out-of-range values",
            f"Unexpectedly low value: {num.min:g} < {fs.min:g} (the schema's min).",
        )
    if fs.max is not None and num.max is not None and num.max > fs.max:
        out.add(
            fs.name,
            "FLOAT_TYPE_BIG_FLOAT" if is_float else "INT_TYPE_BIG_INT",
            "Out-of-range values",
            f"Unexpectedly high value: {num.max:g} > {fs.max:g} (the schema's max).",
        )
    if num.nan > 0 and not fs.allow_nan and f.type == FeatureType.FLOAT:
        out.add(
            fs.name,
            "FLOAT_TYPE_HAS_NAN",
            "Invalid values",
            f"The feature has {num.nan} NaN value(s); set allow_nan: true to accept them.",
            count=num.nan,
        )


def _histogram(f: FeatureStatistics, source: str) -> Histogram | None:
    if f.numeric is None:
        return None
    by_kind = {h.kind: h for h in f.numeric.histograms if h.buckets}
    return by_kind.get(source) or next(iter(by_kind.values()), None)


def _measure(
    comparator: FeatureComparator, a: FeatureStatistics, b: FeatureStatistics
) -> list[tuple[str, float, float, str]]:
    """``(measure, value, threshold, where)`` for each threshold the comparator sets."""
    results: list[tuple[str, float, float, str]] = []
    counts_a, counts_b = value_counts(a), value_counts(b)
    if comparator.infinity_norm is not None and counts_a and counts_b:
        key, value = l_infinity(counts_a, counts_b)
        results.append(("L_INFTY", value, comparator.infinity_norm, key))
    if comparator.normalized_abs_difference is not None and counts_a and counts_b:
        key, value = normalized_abs_difference(counts_a, counts_b)
        results.append(
            ("NORMALIZED_ABSOLUTE_DIFFERENCE", value, comparator.normalized_abs_difference, key)
        )
    if comparator.jensen_shannon_divergence is not None:
        ha, hb = _histogram(a, comparator.jsd_source), _histogram(b, comparator.jsd_source)
        jsd: float | None = None
        if ha is not None and hb is not None:
            na, nb = a.numeric, b.numeric
            jsd = jensen_shannon_divergence(
                ha,
                hb,
                nan_a=na.nan if na else 0,
                nan_b=nb.nan if nb else 0,
                cdf_a=na.cdf if na else (),
                cdf_b=nb.cdf if nb else (),
            )
        elif counts_a and counts_b:
            jsd = jensen_shannon_divergence_of_counts(counts_a, counts_b)
        if jsd is not None:
            results.append(
                ("JENSEN_SHANNON_DIVERGENCE", jsd, comparator.jensen_shannon_divergence, "")
            )
    return results


_COMPARATOR_ANOMALY = {
    "L_INFTY": ("COMPARATOR_L_INFTY_HIGH", "L-infinity distance"),
    "JENSEN_SHANNON_DIVERGENCE": (
        "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH",
        "Jensen-Shannon divergence",
    ),
    "NORMALIZED_ABSOLUTE_DIFFERENCE": (
        "COMPARATOR_NORMALIZED_ABSOLUTE_DIFFERENCE_HIGH",
        "normalized absolute difference",
    ),
}


def _compare(
    mode: str,
    schema: DataSchema,
    stats: DatasetStatistics,
    other: DatasetStatistics,
    out: _Collector,
    infos: dict[str, DriftSkewInfo],
) -> None:
    against = "the previous span" if mode == "drift" else "serving data"
    between = "between current and previous" if mode == "drift" else "between training and serving"
    for fs in schema.features:
        comparator = fs.drift_comparator if mode == "drift" else fs.skew_comparator
        a, b = stats.feature(fs.name), other.feature(fs.name)
        if comparator is None or a is None or b is None or a.count == 0 or b.count == 0:
            continue
        # drift: previous -> current; skew: training (stats) vs serving (other)
        first, second = (b, a) if mode == "drift" else (a, b)
        for measure, value, threshold, where in _measure(comparator, first, second):
            info = infos.setdefault(fs.name, DriftSkewInfo(fs.name))
            record = {"type": measure, "value": value, "threshold": threshold}
            (info.drift_measurements if mode == "drift" else info.skew_measurements).append(record)
            if value > threshold:
                kind, label = _COMPARATOR_ANOMALY[measure]
                at = f" (largest at {where!r})" if where else ""
                short = "High Linfty distance" if measure == "L_INFTY" else f"High {label}"
                out.add(
                    fs.name,
                    kind,
                    f"{short} {between}",
                    f"The {label} versus {against} is {value:.4g}{at}, above the threshold "
                    f"{threshold:g}.",
                )


def validate_statistics(
    stats: DatasetStatistics,
    schema: DataSchema,
    *,
    environment: str | None = None,
    previous: DatasetStatistics | None = None,
    serving: DatasetStatistics | None = None,
) -> Anomalies:
    """Check one data set's statistics against ``schema`` (and a baseline), like TFDV.

    Args:
        stats: the statistics of the data to check (one split).
        schema: what the data must look like; its comparators set drift and skew thresholds.
        environment: e.g. ``"SERVING"``: features not in it (the label) are not expected.
        previous: the previous span's statistics: enables drift checks (``drift_comparator``)
            and the row-count change (``dataset.min/max_fraction_of_previous``).
        serving: serving data's statistics: enables skew checks (``skew_comparator``),
            ``stats`` being the training data.

    Returns:
        The anomalies by feature, the dataset-level anomalies and every drift/skew measure.

    Example:
        >>> schema = DataSchema([FeatureSchema("age", FeatureType.INT)])
        >>> found = validate_statistics(DatasetStatistics("eval", 10), schema)
        >>> found.anomaly_info["age"].reasons[0].type
        'SCHEMA_MISSING_COLUMN'
    """
    out = _Collector()
    infos: dict[str, DriftSkewInfo] = {}
    result = Anomalies(split=stats.name)
    if stats.num_rows == 0:
        result.data_missing = True
        out.add(None, "NO_DATA_IN_SPAN", "No data", f"The data set {stats.name!r} has no rows.")
    _check_dataset(stats, schema, previous, out)
    if stats.num_rows > 0:
        declared = {f.name for f in schema.features}
        for fs in schema.features:
            if not expected_in_environment(fs, environment):
                continue
            f = stats.feature(fs.name)
            if f is None:
                if fs.min_fraction_present > 0:
                    out.add(
                        fs.name,
                        "SCHEMA_MISSING_COLUMN",
                        "Column dropped",
                        f"The feature {fs.name!r} is in the schema but not in the data.",
                    )
                continue
            _check_feature(fs, f, stats.num_rows, out)
        for f in stats.features:
            if f.name not in declared:
                out.add(
                    f.name,
                    "SCHEMA_NEW_COLUMN",
                    "New column",
                    f"New column {f.name!r} ({f.type.value}) is not in the schema.",
                    count=f.count,
                )
        if previous is not None:
            _compare("drift", schema, stats, previous, out, infos)
        if serving is not None:
            _compare("skew", schema, stats, serving, out, infos)
    result.anomaly_info = {path: _info(path, found) for path, found in out.features.items()}
    if out.dataset:
        result.dataset_anomaly_info = _info("", out.dataset)
    result.drift_skew_info = list(infos.values())
    return result


def anomaly_count(anomalies: Anomalies) -> int:
    """The number of anomalous features, plus one when the data set itself is anomalous.

    Example:
        >>> anomaly_count(Anomalies())
        0
    """
    dataset = anomalies.dataset_anomaly_info is not None or anomalies.data_missing
    return len(anomalies.anomaly_info) + (1 if dataset else 0)


def anomalies_from_dict(data: dict[str, Any]) -> Anomalies:
    """Read the JSON form written by ``Anomalies.to_dict()``.

    Example:
        >>> anomalies_from_dict(Anomalies(split="eval").to_dict()).split
        'eval'
    """

    def info(d: dict[str, Any]) -> AnomalyInfo:
        return AnomalyInfo(
            path=d["path"],
            severity=Severity(d["severity"]),
            short_description=d["short_description"],
            description=d["description"],
            reasons=[AnomalyReason(**r) for r in d.get("reasons", [])],
        )

    dataset = data.get("dataset_anomaly_info")
    return Anomalies(
        anomaly_info={k: info(v) for k, v in data.get("anomaly_info", {}).items()},
        dataset_anomaly_info=None if dataset is None else info(dataset),
        drift_skew_info=[DriftSkewInfo(**d) for d in data.get("drift_skew_info", [])],
        data_missing=bool(data.get("data_missing", False)),
        split=data.get("split"),
    )


def _rows(anomalies: Anomalies) -> Iterable[tuple[str, str, str, str, str]]:
    entries = list(anomalies.anomaly_info.values())
    if anomalies.dataset_anomaly_info is not None:
        entries.insert(0, anomalies.dataset_anomaly_info)
    for info in entries:
        for r in info.reasons:
            count = "" if r.count is None else str(r.count)
            yield (info.path or "(dataset)", info.severity.value, r.type, count, r.description)


def anomalies_to_text(anomalies: Anomalies) -> str:
    """A plain-text report: one line per anomaly reason, or a line saying there are none.

    Example:
        >>> anomalies_to_text(Anomalies(split="eval"))
        "No anomalies in split 'eval'."
    """
    where = f" in split {anomalies.split!r}" if anomalies.split else ""
    rows = list(_rows(anomalies))
    if not rows:
        return f"No anomalies{where}."
    lines = [f"{anomaly_count(anomalies)} anomalous feature(s){where}:"]
    for path, severity, kind, count, description in rows:
        counted = f" [{count}]" if count else ""
        lines.append(f"  {path}: {severity} {kind}{counted}: {description}")
    return "\n".join(lines)


def print_anomalies(anomalies: Anomalies, console: Any = None) -> None:
    """Print the anomalies as a rich table (feature, severity, anomaly, count, description).

    Example:
        >>> print_anomalies(Anomalies(split="eval"))  # doctest: +SKIP
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    rows = list(_rows(anomalies))
    where = f" in split {escape(repr(anomalies.split))}" if anomalies.split else ""
    if not rows:
        console.print(f"[green]No anomalies{where}.[/]")
        return
    table = Table(title=f"{anomaly_count(anomalies)} anomalous feature(s){where}")
    for column in ("feature", "severity", "anomaly", "count", "description"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for path, severity, kind, count, description in rows:
        style = "bold red" if severity == Severity.ERROR.value else "yellow"
        table.add_row(escape(path), f"[{style}]{severity}[/]", kind, count, escape(description))
    console.print(table)
