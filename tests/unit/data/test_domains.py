"""Categorical domains: every value of a feature is counted exactly up to the documented limit,
inferred as a domain up to 100 values, and checked value by value; past the limit the check
says it is approximate."""

from __future__ import annotations

import pyarrow as pa

from conveyor.data.model import VALUE_COUNTS_LIMIT, StatisticsCollection
from conveyor.data.schema import infer_schema
from conveyor.data.stats import PartialStatistics, compute_statistics
from conveyor.data.validate import anomalies_to_text, validate_statistics


def _categories(count: int, rows: int, prefix: str = "c") -> list[str]:
    return [f"{prefix}{i % count:04d}" for i in range(rows)]


def test_a_new_category_in_40_of_30000_rows_of_a_41_value_feature_is_an_anomaly():
    train = compute_statistics(pa.table({"cat": _categories(41, 30_000)}), split="train")
    schema = infer_schema(train)
    assert schema.features[0].values == sorted(set(_categories(41, 41)))

    rows = _categories(41, 30_000)
    rows[100:140] = ["brand-new"] * 40
    current = compute_statistics(pa.table({"cat": rows}), split="eval").datasets[0]
    found = validate_statistics(current, schema)

    reasons = found.anomaly_info["cat"].reasons
    assert [r.type for r in reasons] == ["ENUM_TYPE_UNEXPECTED_STRING_VALUES"]
    assert reasons[0].count == 40
    assert "'brand-new' (40)" in reasons[0].description
    assert "approximate" not in anomalies_to_text(found)


def test_domains_are_inferred_for_strings_with_up_to_100_values():
    for values, expected in ((21, True), (100, True), (101, False)):
        stats = compute_statistics(pa.table({"cat": _categories(values, 5_000)}), split="train")
        domain = infer_schema(stats).features[0].values
        assert (domain is not None) == expected, values
        if expected:
            assert domain is not None and len(domain) == values


def test_value_counts_are_exact_and_merge_across_shards_up_to_the_limit():
    rows = _categories(VALUE_COUNTS_LIMIT, 3 * VALUE_COUNTS_LIMIT)
    a = PartialStatistics().update(pa.table({"cat": rows[:1000]}))
    b = PartialStatistics().update(pa.table({"cat": rows[1000:]}))
    merged = a.merge(b).to_datasets()[0].feature("cat")
    assert merged is not None and merged.string is not None
    counts = merged.string.value_counts
    assert counts is not None and len(counts) == VALUE_COUNTS_LIMIT
    assert {v.count for v in counts} == {3.0}
    # survives the JSON round trip of the statistics artifact
    merged_set = a.to_datasets()
    again = StatisticsCollection.from_dict(StatisticsCollection(merged_set).to_dict())
    assert again.datasets[0].feature("cat") == merged_set[0].feature("cat")

    over = compute_statistics(pa.table({"cat": _categories(VALUE_COUNTS_LIMIT + 1, 5_000)}))
    feature = over.datasets[0].feature("cat")
    assert feature is not None and feature.string is not None
    assert feature.string.value_counts is None  # past the limit: top values only


def test_past_the_limit_the_domain_check_says_it_is_approximate():
    train = compute_statistics(pa.table({"cat": _categories(50, 5_000)}), split="train")
    schema = infer_schema(train)
    # the same 50 values dominate, plus 2,000 rare new ones: more than the limit
    rows = _categories(50, 20_000) + _categories(2_000, 2_000, prefix="new")
    current = compute_statistics(pa.table({"cat": rows})).datasets[0]
    found = validate_statistics(current, schema)
    reason = found.anomaly_info["cat"].reasons[0]
    assert reason.type == "ENUM_TYPE_UNEXPECTED_STRING_VALUES"
    assert "approximate" in reason.description
    assert f"more than the {VALUE_COUNTS_LIMIT:,}" in reason.description

    # a curated domain larger than the limit cannot be checked value by value: a warning says so
    big = _categories(3_000, 3_000)
    schema.features[0].values = sorted(set(big))
    current = compute_statistics(pa.table({"cat": big})).datasets[0]
    found = validate_statistics(current, schema)
    reason = found.anomaly_info["cat"].reasons[0]
    assert reason.type == "ENUM_TYPE_CHECK_APPROXIMATE"
    assert found.anomaly_info["cat"].severity.value == "WARNING"
