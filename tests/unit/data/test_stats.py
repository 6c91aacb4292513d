"""compute_statistics agrees with a direct pandas computation on real data, and handles
types, slices, weights, empty and all-null columns, and several file formats."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conveyor.data.model import VALUE_COUNTS_LIMIT, FeatureType, StatisticsCollection
from conveyor.data.stats import compute_statistics, statistics_of_examples
from conveyor.errors import ArtifactError, ArtifactNotFoundError

DATA = Path(__file__).resolve().parents[2] / "data"
PENGUINS = DATA / "penguins.csv"
TITANIC = DATA / "titanic_survival.csv"

pytestmark = pytest.mark.skipif(not PENGUINS.exists(), reason="shared datasets not present")


def _pandas(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, na_values=["NA", ""], keep_default_na=False)


@pytest.mark.parametrize("path", [PENGUINS, TITANIC], ids=["penguins", "titanic"])
def test_compute_statistics_matches_pandas_on_real_data(path: Path) -> None:
    df = _pandas(path)
    ds = compute_statistics(str(path)).datasets[0]
    assert ds.num_rows == len(df)
    assert [f.name for f in ds.features] == list(df.columns)
    for name in df.columns:
        col, f = df[name], ds.feature(name)
        assert f is not None
        assert f.count == col.notna().sum()
        assert f.missing == col.isna().sum()
        if pd.api.types.is_numeric_dtype(col):
            assert f.numeric is not None
            values = col.dropna().astype("float64")
            assert f.numeric.min == values.min()
            assert f.numeric.max == values.max()
            assert f.numeric.mean == pytest.approx(values.mean(), rel=1e-12)
            assert f.numeric.std == pytest.approx(values.std(ddof=0), rel=1e-9)
            assert f.numeric.zeros == (values == 0).sum()
            # small data: the KLL sketch holds every value, so quantiles are exact ranks
            assert len(f.numeric.quantiles) == 11
            assert f.numeric.quantiles[5] in set(values.to_list())
            standard = f.numeric.histograms[0]
            assert standard.kind == "standard" and len(standard.buckets) == 10
            assert sum(b.count for b in standard.buckets) == f.count
            assert f.numeric.histograms[1].kind == "quantiles"
        else:
            assert f.type == FeatureType.STRING and f.string is not None
            values = col.dropna()
            counts = values.value_counts(sort=True)
            assert f.string.unique == len(counts)
            actual = counts.to_dict()
            assert [v.count for v in f.string.top_values] == counts.head(20).to_list()
            assert all(actual[v.value] == v.count for v in f.string.top_values)
            if len(counts) <= VALUE_COUNTS_LIMIT:
                assert f.string.value_counts is not None
                assert {v.value: v.count for v in f.string.value_counts} == actual
            else:
                assert f.string.value_counts is None
            lengths = values.str.len()
            assert f.string.avg_length == pytest.approx(lengths.mean())
            assert f.string.min_length == lengths.min()
            assert f.string.max_length == lengths.max()


def test_compute_statistics_infers_logical_types() -> None:
    import datetime as dt

    table = pa.table(
        {
            "i": [1, 2, None],
            "f": [1.5, float("nan"), float("inf")],
            "s": ["a", "bb", None],
            "b": [True, False, True],
            "t": [dt.datetime(2024, 1, 1), None, dt.datetime(2024, 1, 2)],
            "d": pa.array([dt.date(2024, 1, 1)] * 3),
        }
    )
    ds = compute_statistics(table).datasets[0]
    types = {f.name: f.type for f in ds.features}
    assert types == {
        "i": FeatureType.INT,
        "f": FeatureType.FLOAT,
        "s": FeatureType.STRING,
        "b": FeatureType.BOOL,
        "t": FeatureType.TIMESTAMP,
        "d": FeatureType.TIMESTAMP,
    }
    f = ds.feature("f")
    assert f is not None and f.numeric is not None
    assert (f.count, f.numeric.nan, f.numeric.infinity, f.numeric.mean) == (3, 1, 1, 1.5)
    b = ds.feature("b")
    assert b is not None and b.numeric is not None and b.string is not None
    assert b.numeric.mean == pytest.approx(2 / 3)
    assert {v.value: v.count for v in b.string.top_values} == {"true": 2, "false": 1}
    t = ds.feature("t")
    assert t is not None and t.numeric is not None
    assert t.numeric.max - t.numeric.min == 86400.0  # epoch seconds


def test_compute_statistics_applies_column_type_overrides() -> None:
    table = pa.table({"zip": [1000, 1000, 2000]})
    f = compute_statistics(table, column_types={"zip": "STRING"}).datasets[0].feature("zip")
    assert f is not None and f.type == FeatureType.STRING and f.string is not None
    assert f.string.top_values[0].value == "1000" and f.string.top_values[0].count == 2


def test_compute_statistics_of_empty_and_all_null_columns(tmp_path: Path) -> None:
    table = pa.table({"none": pa.nulls(4), "x": pa.array([None] * 4, pa.float64())})
    ds = compute_statistics(table).datasets[0]
    none, x = ds.feature("none"), ds.feature("x")
    assert none is not None and (none.count, none.missing, none.type) == (0, 4, FeatureType.STRING)
    assert x is not None and x.numeric is not None and x.numeric.mean is None
    assert x.numeric.quantiles == [] and x.numeric.histograms == []

    header_only = tmp_path / "h.csv"
    header_only.write_text("a,b\n")
    ds = compute_statistics(str(header_only)).datasets[0]
    assert ds.num_rows == 0 and [f.name for f in ds.features] == ["a", "b"]
    StatisticsCollection.from_dict(compute_statistics(str(header_only)).to_dict())


def test_compute_statistics_slices_by_column_values() -> None:
    df = _pandas(PENGUINS)
    stats = compute_statistics(str(PENGUINS), slice_by=["sex"])
    assert [d.slice for d in stats.datasets] == [None, "sex=female", "sex=male"]
    female = stats.datasets[1]
    expected = df[df["sex"] == "female"]
    assert female.num_rows == len(expected)
    mass = female.feature("body_mass_g")
    assert mass is not None and mass.numeric is not None
    assert mass.numeric.mean == pytest.approx(expected["body_mass_g"].mean())
    assert stats.split("all") is stats.datasets[0]


def test_compute_statistics_weighted_counts() -> None:
    table = pa.table({"x": [1.0, None, 3.0], "w": [0.5, 2.0, None]})
    ds = compute_statistics(table, weight_column="w").datasets[0]
    assert ds.weighted_num_rows == 2.5
    x = ds.feature("x")
    assert x is not None and x.weighted_count == 0.5
    with pytest.raises(ValueError, match="'nope'"):
        compute_statistics(table, weight_column="nope")


def test_compute_statistics_reads_parquet_jsonl_globs_and_lists(tmp_path: Path) -> None:
    table = pa.table({"a": [1, 2, 3, 4], "s": ["x", "y", "x", None]})
    pq.write_table(table.slice(0, 2), tmp_path / "p1.parquet")
    pq.write_table(table.slice(2), tmp_path / "p2.parquet")
    (tmp_path / "j.jsonl").write_text('{"a": 1, "s": "x"}\n{"a": 2, "s": null}\n')
    whole = compute_statistics(str(tmp_path / "*.parquet")).datasets[0]
    assert whole.num_rows == 4
    s = whole.feature("s")
    assert s is not None and s.string is not None and s.string.top_values[0].count == 2
    listed = compute_statistics([tmp_path / "p1.parquet", str(tmp_path / "j.jsonl")])
    assert listed.datasets[0].num_rows == 4


def test_compute_statistics_promotes_a_csv_column_guessed_from_its_first_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import conveyor.data.csv_reader as reader_module

    monkeypatch.setattr(reader_module, "RANGE_BYTES", 16)
    path = tmp_path / "late.csv"
    path.write_text("n,c\n" + "1,a\n" * 40 + "2.5,b\n" + "3,zz\n" * 40 + "4,x y\n")
    ds = compute_statistics(str(path)).datasets[0]
    n = ds.feature("n")
    assert ds.num_rows == 82
    assert n is not None and n.type == FeatureType.FLOAT and n.numeric is not None
    assert n.numeric.max == 4.0 and n.count == 82


def test_compute_statistics_names_the_file_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFoundError, match=r"missing\.csv"):
        compute_statistics(str(tmp_path / "missing.csv"))
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(ArtifactError, match=r"ragged\.csv"):
        compute_statistics(str(ragged))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ArtifactError, match=r"empty\.csv"):
        compute_statistics(str(empty))


def test_statistics_of_examples_gives_one_data_set_per_split(tmp_path: Path) -> None:
    for split, rows in (("train", 3), ("eval", 2)):
        (tmp_path / split).mkdir()
        pq.write_table(pa.table({"x": list(range(rows))}), tmp_path / split / "part-00000.parquet")
    stats = statistics_of_examples(tmp_path)
    assert [(d.name, d.num_rows) for d in stats.datasets] == [("eval", 2), ("train", 3)]
    assert not math.isnan(stats.datasets[0].features[0].numeric.mean)  # type: ignore[union-attr]


def test_compute_statistics_splits_csv_ranges_only_outside_quotes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import conveyor.data.csv_reader as reader_module

    monkeypatch.setattr(reader_module, "RANGE_BYTES", 16)
    path = tmp_path / "quoted.csv"
    rows = [f'{i},"line one\nline ""two"", {i}"' for i in range(200)]
    path.write_text("id,text\n" + "\n".join(rows) + "\n")
    expected = pd.read_csv(path)
    ds = compute_statistics(str(path)).datasets[0]
    assert ds.num_rows == len(expected) == 200
    text = ds.feature("text")
    assert text is not None and text.string is not None
    assert text.string.unique == 200 and text.string.min_length == len('line one\nline "two", 0')
    ident = ds.feature("id")
    assert ident is not None and ident.numeric is not None and ident.numeric.max == 199


def test_compute_statistics_reads_big_csv_ranges_like_one_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import conveyor.data.csv_reader as reader_module

    path = tmp_path / "t.csv"
    path.write_text(TITANIC.read_text())
    whole = compute_statistics(str(path)).to_dict()
    monkeypatch.setattr(reader_module, "RANGE_BYTES", 512)
    assert _rounded(compute_statistics(str(path)).to_dict()) == _rounded(whole)


def _rounded(value: object) -> object:
    """Floats to 10 significant digits: sums in another order differ in the last bits."""
    if isinstance(value, float):
        return float(f"{value:.10g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def test_statistics_are_deterministic_for_high_cardinality_numbers() -> None:
    """Statistics are artifacts: the same rows must give the same bytes, run after run and
    whatever the chunking, or every step downstream would miss the cache."""
    import json

    rng = np.random.default_rng(7)
    table = pa.table({"x": rng.lognormal(10, 1, 50_000), "y": rng.normal(0, 1, 50_000)})
    first = compute_statistics(table).to_dict()
    again = compute_statistics(table).to_dict()
    chunked = compute_statistics(table, chunk_rows=7_000).to_dict()
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert (
        first["datasets"][0]["features"][0]["numeric"]["quantiles"]
        == (chunked["datasets"][0]["features"][0]["numeric"]["quantiles"])
    )


def test_statistics_of_a_malformed_csv_name_the_file_and_line(tmp_path: Path) -> None:
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b,c\n1,2,3\n4,5\n6,7,8\n")
    with pytest.raises(ArtifactError, match=r"ragged\.csv: line 3: expected 3 fields"):
        compute_statistics(str(ragged))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ArtifactError, match=r"empty\.csv: line 1: the file is empty"):
        compute_statistics(str(empty))
