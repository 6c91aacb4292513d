"""PartialStatistics merge: two halves merged give the statistics of the whole (exactly for
counts, min and max, to rounding for mean and std, within sketch error for quantiles)."""

from __future__ import annotations

import pickle

import numpy as np
import pyarrow as pa
import pytest

from conveyor.data import sketches
from conveyor.data.model import DatasetStatistics
from conveyor.data.stats import PartialStatistics


def _table(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(50, 10, n)
    x[rng.random(n) < 0.05] = np.nan
    cats = np.array(["a", "b", "c", "d"])[rng.integers(0, 4, n)]
    return pa.table(
        {
            "x": pa.array(x, mask=rng.random(n) < 0.1),
            "i": pa.array(rng.integers(-5, 5, n)),
            "c": pa.array(cats, mask=rng.random(n) < 0.02),
            "g": pa.array(np.array(["m", "f"])[rng.integers(0, 2, n)]),
            "w": pa.array(rng.random(n)),
        }
    )


def _stats(*tables: pa.Table, **options: object) -> list[DatasetStatistics]:
    states = [PartialStatistics(**options).update(t) for t in tables]  # type: ignore[arg-type]
    merged = states[0]
    for other in states[1:]:
        merged.merge(other)
    return merged.to_datasets()


def _assert_same(
    merged: DatasetStatistics, whole: DatasetStatistics, data: pa.Table | None = None
) -> None:
    assert merged.num_rows == whole.num_rows
    assert merged.weighted_num_rows == pytest.approx(whole.weighted_num_rows)
    for fm, fw in zip(merged.features, whole.features, strict=True):
        assert (fm.name, fm.type, fm.count, fm.missing) == (fw.name, fw.type, fw.count, fw.missing)
        assert fm.weighted_count == pytest.approx(fw.weighted_count)
        if fw.numeric is not None:
            m, w = fm.numeric, fw.numeric
            assert m is not None
            assert (m.min, m.max, m.zeros, m.nan, m.infinity) == (
                w.min,
                w.max,
                w.zeros,
                w.nan,
                w.infinity,
            )
            assert m.mean == pytest.approx(w.mean, rel=1e-12)
            assert m.std == pytest.approx(w.std, rel=1e-9)
            # the sketch is deterministic: chunking and merge order change nothing
            assert m.quantiles == w.quantiles and len(m.quantiles) == 11
            assert m.histograms == w.histograms
            if data is not None:  # each quantile is within the sketch's relative error
                x = data.column(fw.name).drop_null().to_numpy().astype(float)
                x = np.sort(x[np.isfinite(x)])
                alpha = sketches.QUANTILE_ALPHA * 1.001
                for i, q in enumerate(m.quantiles):
                    true = x[min(int(i / 10 * x.size), x.size - 1)]
                    assert abs(q - true) <= alpha * abs(true) + 1e-9, (fw.name, i, q, true)
        if fw.string is not None:
            assert fm.string == fw.string


def test_merge_of_two_halves_equals_the_whole() -> None:
    table = _table(200_000)
    half = table.num_rows // 2
    merged = _stats(table.slice(0, half), table.slice(half))
    whole = _stats(table)
    _assert_same(merged[0], whole[0], table)


def test_merge_keeps_slices_and_weights() -> None:
    table = _table(50_000, seed=3)
    options = {"slice_by": ("g",), "weight_column": "w"}
    merged = _stats(table.slice(0, 10_000), table.slice(10_000), **options)
    whole = _stats(table, **options)
    assert [d.slice for d in merged] == [None, "g=f", "g=m"]
    for m, w in zip(merged, whole, strict=True):
        _assert_same(m, w)


def test_merge_is_order_independent_for_exact_figures() -> None:
    parts = [_table(5_000, seed=s) for s in range(4)]
    forward = _stats(*parts)[0]
    backward = _stats(*reversed(parts))[0]
    _assert_same(forward, backward)


def test_merge_refuses_states_of_different_options() -> None:
    with pytest.raises(ValueError, match="same split"):
        PartialStatistics(split="train").merge(PartialStatistics(split="eval"))


def test_merge_promotes_int_and_float_parts_and_rejects_string_vs_number() -> None:
    a = PartialStatistics().update(pa.table({"x": [1, 2]}))
    b = PartialStatistics().update(pa.table({"x": [2.5]}))
    f = a.merge(b).to_datasets()[0].feature("x")
    assert f is not None and f.type == "FLOAT" and f.numeric is not None and f.numeric.max == 2.5
    c = PartialStatistics().update(pa.table({"x": ["s"]}))
    with pytest.raises(ValueError, match="column_types"):
        a.merge(c)


def test_high_cardinality_strings_switch_to_sketches_and_still_merge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sketches, "EXACT_LIMIT", 1_000)
    values = [f"id{i}" for i in range(5_000)] + ["hot"] * 500
    table = pa.table({"s": values})
    merged = _stats(table.slice(0, 2_000), table.slice(2_000))[0].feature("s")
    assert merged is not None and merged.string is not None
    assert merged.string.unique == pytest.approx(5_001, rel=0.03)
    assert merged.string.top_values[0].value == "hot"
    assert merged.string.top_values[0].count == pytest.approx(500, abs=5)


def test_partial_statistics_pickle_round_trip() -> None:
    state = PartialStatistics(slice_by=("g",)).update(_table(1_000))
    copy = pickle.loads(pickle.dumps(state))
    assert copy.to_datasets() == state.to_datasets()
    copy.merge(PartialStatistics(slice_by=("g",)).update(_table(1_000, seed=1)))
    assert copy.to_datasets()[0].num_rows == 2_000


def test_numbers_switch_from_exact_counts_to_the_sketch_across_a_merge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sketches, "NUMERIC_EXACT_LIMIT", 50)
    few = pa.table({"x": pa.array(np.arange(10_000) % 10, pa.int64())})
    many = pa.table({"x": pa.array(np.arange(10_000), pa.int64())})
    merged = _stats(few, many)[0]
    whole = _stats(pa.concat_tables([few, many]))[0]
    _assert_same(merged, whole, pa.concat_tables([few, many]))
    reverse = _stats(many, few)[0]
    _assert_same(reverse, whole, pa.concat_tables([few, many]))
