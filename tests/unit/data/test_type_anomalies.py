"""Values that do not fit a declared type are counted, all of them, and a few are shown: in a
type anomaly of the validator and in the reader's error for a ``column_types`` override."""

from __future__ import annotations

import pyarrow as pa
import pytest

from conveyor.data.columns import bad_values
from conveyor.data.io import read_table
from conveyor.data.model import DataSchema, FeatureSchema, FeatureType
from conveyor.data.stats import PartialStatistics, compute_statistics
from conveyor.data.validate import validate_statistics
from conveyor.errors import ArtifactError


def _ages(rows: int, bad_every: int) -> list[str]:
    return ["?" if i % bad_every == 0 else str(20 + i % 50) for i in range(rows)]


def test_a_type_anomaly_counts_the_values_that_are_not_numbers_and_shows_them():
    ages = _ages(32_561, 98)  # 333 "?" (rows 0, 98, ...)
    ages[5] = "n/a"
    stats = compute_statistics(pa.table({"age": ages})).datasets[0]
    schema = DataSchema([FeatureSchema("age", FeatureType.INT)])
    reason = validate_statistics(stats, schema).anomaly_info["age"].reasons[0]
    assert reason.type == "INT_TYPE_NOT_INT_STRING"
    assert reason.count == 334
    assert "334 of 32561 values are not an integer" in reason.description
    assert "'?' (333)" in reason.description and "'n/a' (1)" in reason.description


def test_the_counts_merge_across_shards_and_tell_integers_from_numbers():
    a = PartialStatistics().update(pa.table({"x": ["1", "2.5", "?"]}))
    b = PartialStatistics().update(pa.table({"x": ["1e3", "nan", "x", None]}))
    feature = a.merge(b).to_datasets()[0].feature("x")
    assert feature is not None and feature.string is not None
    assert (feature.string.not_float, feature.string.not_int) == (2, 5)
    schema = DataSchema([FeatureSchema("x", FeatureType.FLOAT, min_fraction_present=0.5)])
    stats = a.to_datasets()[0]  # the merged state
    reason = validate_statistics(stats, schema).anomaly_info["x"].reasons[0]
    assert reason.type == "FLOAT_TYPE_STRING_NOT_FLOAT"
    assert reason.count == 2


def test_bad_values_agree_with_arrow_casts_value_by_value():
    values = ["1", "-2", "+3", " 4", "5.0", "1e3", "0x10", "99999999999999999999", "?", None]
    for target in (pa.int64(), pa.float64(), pa.timestamp("us")):
        mask = bad_values(pa.array(values), target).to_pylist()
        for value, bad in zip(values, mask, strict=True):
            if value is None:
                assert not bad
                continue
            try:
                pa.compute.cast(pa.array([value]), target)
                fails = False
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                fails = True
            assert bad == fails, (target, value)


def test_an_override_error_counts_every_offending_value_and_shows_a_few(tmp_path):
    rows = [str(i) if i % 3 else "?" for i in range(1, 3001)] + ["unknown", "none", "x"]
    (tmp_path / "d.csv").write_text("n\n" + "\n".join(rows) + "\n")
    with pytest.raises(ArtifactError) as err:
        read_table(str(tmp_path / "d.csv"), column_types={"n": "INT"})
    message = str(err.value)
    assert "d.csv: line 4: column 'n'" in message  # the first one
    assert "1003 value(s) are not INT" in message
    assert "'?' (1000)" in message and "and 1 other value(s)" in message


def test_the_counts_are_the_same_past_the_exact_limit(monkeypatch):
    from conveyor.data import sketches

    values = [f"{i}" if i % 7 else f"v{i}" for i in range(600)] + ["?"] * 50 + ["1.5"] * 9
    not_numbers = sum(1 for v in values if not v.replace(".", "").isdigit())
    expected = (not_numbers, not_numbers + 9)  # '1.5' is a number, not an integer
    monkeypatch.setattr(sketches, "EXACT_LIMIT", 100)
    for split in (1, 3, 7):  # chunks and merges in and out of the exact regime
        size = len(values) // split + 1
        parts = [values[i : i + size] for i in range(0, len(values), size)]
        merged, chunked = PartialStatistics(), PartialStatistics()
        for part in parts:
            merged.merge(PartialStatistics().update(pa.table({"x": part})))
            chunked.update(pa.table({"x": part}))
        for state in (merged, chunked):
            feature = state.to_datasets()[0].feature("x")
            assert feature is not None and feature.string is not None
            assert feature.string.value_counts is None  # sketches were used
            assert (feature.string.not_float, feature.string.not_int) == expected, split
