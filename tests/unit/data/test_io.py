"""Reading tabular sources: formats, globs, URLs, SQL, safe type inference, clear errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conveyor.data.io import CsvOptions, feature_types, iter_batches, read_sql, read_table
from conveyor.data.model import FeatureType
from conveyor.errors import ArtifactError

DATA = Path(__file__).resolve().parents[2] / "data"
PENGUINS = DATA / "penguins.csv"
TITANIC = DATA / "titanic_survival.csv"

needs_data = pytest.mark.skipif(not PENGUINS.exists(), reason="shared datasets missing")


def _types(table: pa.Table) -> dict[str, str]:
    return {k: v.value for k, v in feature_types(table.schema).items()}


def _jsonl(table: pa.Table, path: Path) -> None:
    import json

    with open(path, "w") as fh:
        for row in table.to_pylist():
            fh.write(json.dumps(row) + "\n")


@needs_data
def test_read_table_penguins_na_are_nulls_and_ints_stay_ints():
    table = read_table(str(PENGUINS))
    assert table.num_rows == 344
    assert _types(table) == {
        "species": "STRING",
        "island": "STRING",
        "bill_length_mm": "FLOAT",
        "bill_depth_mm": "FLOAT",
        "flipper_length_mm": "INT",
        "body_mass_g": "INT",
        "sex": "STRING",
        "year": "INT",
    }
    assert table.column("flipper_length_mm").null_count == 2
    assert table.column("sex").null_count == 11
    assert "NA" not in table.column("sex").to_pylist()


@needs_data
def test_read_table_titanic_keeps_yes_no_as_strings():
    table = read_table(str(TITANIC))
    assert table.num_rows == 1309
    assert _types(table)["survived"] == "STRING"
    assert _types(table)["age"] == "FLOAT"
    assert table.column("name")[0].as_py() == "Allen, Miss. Elisabeth Walton"


@needs_data
def test_read_table_parquet_and_jsonl_copies_give_the_same_table(tmp_path):
    table = read_table(str(PENGUINS))
    pq.write_table(table, tmp_path / "p.parquet")
    _jsonl(table, tmp_path / "p.jsonl")
    assert read_table(str(tmp_path / "p.parquet")).equals(table)
    assert read_table(str(tmp_path / "p.jsonl")).equals(table)


def test_read_table_glob_concatenates_files_and_widens_int_to_float(tmp_path):
    (tmp_path / "a.csv").write_text("x,y\n1,a\n2,b\n")
    (tmp_path / "b.csv").write_text("x,y\n3.5,c\n")
    table = read_table(str(tmp_path / "*.csv"))
    assert table.column("x").to_pylist() == [1.0, 2.0, 3.5]
    assert _types(table) == {"x": "FLOAT", "y": "STRING"}


def test_read_table_folder_reads_every_file(tmp_path):
    for i in range(3):
        (tmp_path / f"part-{i}.csv").write_text(f"x\n{i}\n")
    (tmp_path / "_SUCCESS").write_text("")
    assert read_table(str(tmp_path)).column("x").to_pylist() == [0, 1, 2]


def test_read_table_fsspec_memory_url():
    import fsspec

    with fsspec.open("memory://cv-io/one.csv", "w") as fh:
        fh.write("a,b\n1,x\n2,y\n")
    with fsspec.open("memory://cv-io/two.csv", "w") as fh:
        fh.write("a,b\n3,z\n")
    table = read_table("memory://cv-io/*.csv")
    assert table.column("a").to_pylist() == [1, 2, 3]


def test_read_sql_sqlite_keeps_int_with_nulls(tmp_path):
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER, qty INTEGER, item TEXT, price REAL)")
        conn.executemany(
            "INSERT INTO orders VALUES (?, ?, ?, ?)",
            [(1, 2, "pen", 1.5), (2, None, "ink", 3.0), (3, 7, None, 0.25)],
        )
    table = read_sql(f"sqlite:///{db}", "SELECT * FROM orders ORDER BY id")
    assert _types(table) == {"id": "INT", "qty": "INT", "item": "STRING", "price": "FLOAT"}
    assert table.column("qty").to_pylist() == [2, None, 7]


def test_read_sql_bad_query_names_the_query(tmp_path):
    with pytest.raises(ArtifactError, match="nope"):
        read_sql(f"sqlite:///{tmp_path / 'x.db'}", "SELECT * FROM nope")


def test_read_sql_masks_the_password(tmp_path):
    with pytest.raises(ArtifactError) as err:
        read_sql("sqlite+nodriver://user:secret@host/db", "SELECT 1")
    assert "secret" not in str(err.value)


def test_inference_int_with_missing_stays_int(tmp_path):
    (tmp_path / "d.csv").write_text("n,m\n1,a\n,b\n3,c\nNA,d\n")
    table = read_table(str(tmp_path / "d.csv"))
    assert table.schema.field("n").type == pa.int64()
    assert table.column("n").to_pylist() == [1, None, 3, None]


def test_inference_leading_zero_codes_stay_strings(tmp_path):
    (tmp_path / "d.csv").write_text("zip,n\n00123,1\n45678,2\n-007,3\n")
    table = read_table(str(tmp_path / "d.csv"))
    assert table.column("zip").to_pylist() == ["00123", "45678", "-007"]
    assert _types(table) == {"zip": "STRING", "n": "INT"}


def test_inference_booleans_and_timestamps(tmp_path):
    (tmp_path / "d.csv").write_text(
        "flag,when,day,bits\nTrue,2024-01-02 03:04:05,2024/01/02,1\nfalse,2024-02-03T00:00:00,"
        "2024/02/03,0\n,,,\n"
    )
    table = read_table(str(tmp_path / "d.csv"))
    assert _types(table) == {
        "flag": "BOOL",
        "when": "TIMESTAMP",
        "day": "TIMESTAMP",
        "bits": "INT",
    }
    assert table.column("flag").to_pylist() == [True, False, None]
    assert table.column("when")[0].as_py().hour == 3


def test_read_table_column_types_override(tmp_path):
    (tmp_path / "d.csv").write_text("code,score,ok,at\n1,2,yes,2024-01-01\n2,3,no,2024-01-02\n")
    table = read_table(
        str(tmp_path / "d.csv"),
        column_types={"code": "STRING", "score": "FLOAT", "ok": "BOOL", "at": "TIMESTAMP"},
    )
    assert _types(table) == {"code": "STRING", "score": "FLOAT", "ok": "BOOL", "at": "TIMESTAMP"}
    assert table.column("ok").to_pylist() == [True, False]
    assert table.column("code").to_pylist() == ["1", "2"]


def test_read_table_override_on_parquet_converts_typed_columns(tmp_path):
    pq.write_table(pa.table({"a": [1, 2], "b": ["3", "4"]}), tmp_path / "d.parquet")
    table = read_table(str(tmp_path / "d.parquet"), column_types={"a": "STRING", "b": "INT"})
    assert table.column("a").to_pylist() == ["1", "2"]
    assert table.column("b").to_pylist() == [3, 4]


def test_read_table_override_value_that_does_not_fit_names_file_and_line(tmp_path):
    (tmp_path / "d.csv").write_text("n\n1\n2\nthree\n")
    with pytest.raises(ArtifactError, match=r"d\.csv: line 4: column 'n' .*'three'"):
        read_table(str(tmp_path / "d.csv"), column_types={"n": "INT"})


def test_read_table_override_unknown_column_lists_the_columns(tmp_path):
    (tmp_path / "d.csv").write_text("n\n1\n")
    with pytest.raises(ArtifactError, match=r"\['nope'\].*\['n'\]"):
        read_table(str(tmp_path / "d.csv"), column_types={"nope": "INT"})


def test_read_table_bad_override_value_is_a_value_error(tmp_path):
    (tmp_path / "d.csv").write_text("n\n1\n")
    with pytest.raises(ValueError, match="INTEGER"):
        read_table(str(tmp_path / "d.csv"), column_types={"n": "INTEGER"})


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        (b"a,b\n1,2\n3,4,5\n", 3, "expected 2 fields"),
        (b"a,b\n1,2\n3,\xff\xfe\n", 3, "not valid utf-8"),
        (b"", 1, "empty"),
        (b"a,b\n", 2, "header"),
    ],
    ids=["ragged", "encoding", "empty", "header-only"],
)
def test_read_table_malformed_csv_names_file_and_line(tmp_path, content, line, words):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ArtifactError) as err:
        read_table(str(path))
    message = str(err.value)
    assert f"{path}: line {line}:" in message
    assert words in message


def test_read_table_latin1_file_reads_with_its_encoding(tmp_path):
    (tmp_path / "d.csv").write_bytes("name\nJos\xe9\n".encode("latin-1"))
    table = read_table(str(tmp_path / "d.csv"), csv=CsvOptions(encoding="latin-1"))
    assert table.column("name").to_pylist() == ["José"]


def test_read_table_bad_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": \n')
    with pytest.raises(ArtifactError, match=rf"{path}: line 3:"):
        read_table(str(path))


def test_read_table_nothing_matches_names_the_pattern(tmp_path):
    with pytest.raises(ArtifactError, match="nothing-here"):
        read_table(str(tmp_path / "nothing-here" / "*.csv"))


def test_read_table_files_with_different_columns_fail(tmp_path):
    (tmp_path / "a.csv").write_text("x\n1\n")
    (tmp_path / "b.csv").write_text("y\n1\n")
    with pytest.raises(ArtifactError, match=r"b\.csv: line 1: its columns differ"):
        read_table(str(tmp_path / "*.csv"))


def test_iter_batches_streams_with_the_first_batch_types(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("n,s\n" + "".join(f"{i},v{i % 3}\n" for i in range(50_000)))
    batches = list(iter_batches(str(path), batch_rows=5_000))
    assert len(batches) > 1
    assert sum(b.num_rows for b in batches) == 50_000
    assert {b.schema.field("n").type for b in batches} == {pa.int64()}


def test_iter_batches_later_value_that_breaks_the_type_names_the_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("n\n" + "".join(f"{i}\n" for i in range(50_000)) + "oops\n")
    with pytest.raises(ArtifactError, match=r"line 50002: column 'n'"):
        list(iter_batches(str(path), batch_rows=5_000))


def test_feature_types_maps_arrow_types():
    schema = pa.schema(
        [
            ("i", pa.int32()),
            ("f", pa.float32()),
            ("b", pa.bool_()),
            ("t", pa.timestamp("ns")),
            ("d", pa.dictionary(pa.int8(), pa.string())),
        ]
    )
    assert feature_types(schema) == {
        "i": FeatureType.INT,
        "f": FeatureType.FLOAT,
        "b": FeatureType.BOOL,
        "t": FeatureType.TIMESTAMP,
        "d": FeatureType.STRING,
    }


def test_read_table_jsonl_reads_types_from_json(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1, "b": "00123"}\n{"a": null, "b": "7"}\n')
    table = read_table(str(path))
    assert table.column("a").to_pylist() == [1, None]
    assert table.column("b").to_pylist() == ["00123", "7"]
    assert feature_types(table.schema) == {"a": FeatureType.INT, "b": FeatureType.STRING}
