"""Batch scoring (``score_file``, ``conveyor predict``): the predictions of ``load_model``, in
every format, in chunks, in bounded memory, with clear errors and nothing half-written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from toy_models import CLASSES, SCHEMA, toy_table

from conveyor.cli.main import cli
from conveyor.data.csv_options import CsvOptions
from conveyor.errors import ArtifactError
from conveyor.model.batch import score_file
from conveyor.model.presets import create_estimator
from conveyor.model.saved import LoadedModel, load_model, save_model
from conveyor.model.transform import fit_transform

FORMATS = {"csv": ".csv", "parquet": ".parquet", "jsonl": ".jsonl"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    table = toy_table(300)
    path = str(tmp_path_factory.mktemp("model") / "m")
    fitted = fit_transform(table, SCHEMA, "y")
    estimator, _ = create_estimator("sklearn:LogisticRegression", "classification", {})
    y = np.searchsorted(CLASSES, np.asarray(table.column("y").to_pylist()))
    estimator.fit(fitted.matrix(table), y)
    save_model(path, estimator, fitted, task="classification", label="y", classes=CLASSES)
    return path


@pytest.fixture(scope="module")
def model(model_dir: str) -> LoadedModel:
    return load_model(model_dir)


def _rows(n: int) -> pa.Table:
    """``n`` rows with an id (string ids, so a typed id column is visible), missing values."""
    table = toy_table(n).drop_columns(["y"])
    x = table.column("x").to_numpy().copy()
    mask = np.arange(n) % 17 == 0
    x_col = pa.array(x, mask=mask)
    return pa.table({"id": [f"r{i}" for i in range(n)], "x": x_col, "c": table.column("c")})


def _write(table: pa.Table, path: Path) -> str:
    if path.suffix == ".parquet":
        pq.write_table(table, path, row_group_size=max(1, table.num_rows // 3))
    elif path.suffix == ".csv":
        pacsv.write_csv(table, path)
    else:
        with open(path, "w", encoding="utf-8") as fh:
            for row in table.to_pylist():
                fh.write(json.dumps(row) + "\n")
    return str(path)


def _read(path: str) -> pa.Table:
    if path.endswith(".parquet"):
        return pq.read_table(path)
    if path.endswith(".csv"):
        return pacsv.read_csv(path)
    with open(path, encoding="utf-8") as fh:
        return pa.Table.from_pylist([json.loads(line) for line in fh])


@pytest.mark.parametrize("fmt_in", FORMATS)
@pytest.mark.parametrize("fmt_out", FORMATS)
def test_predictions_equal_load_model_predict_in_every_format(
    model: LoadedModel, tmp_path: Path, fmt_in: str, fmt_out: str
) -> None:
    rows = _rows(500)
    source = _write(rows, tmp_path / f"in{FORMATS[fmt_in]}")
    out = str(tmp_path / f"out{FORMATS[fmt_out]}")
    result = score_file(model, source, out, id_column="id", chunk_rows=64, workers=2)
    got = _read(out)
    assert result.rows == got.num_rows == 500
    assert got.column_names == ["id", "prediction", "probability_no", "probability_yes"]
    assert got.column("id").to_pylist() == rows.column("id").to_pylist()
    assert got.column("prediction").to_pylist() == list(model.predict(rows))
    np.testing.assert_allclose(
        np.column_stack([got.column(c).to_numpy() for c in got.column_names[2:]]),
        model.predict_proba(rows),
        rtol=1e-12,
    )


def test_output_is_typed_and_chunked_output_equals_one_shot(model: LoadedModel, tmp_path: Path):
    source = _write(_rows(1000), tmp_path / "in.parquet")
    one = str(tmp_path / "one.parquet")
    many = str(tmp_path / "many.parquet")
    score_file(model, source, one, id_column="id", chunk_rows=10_000, workers=1)
    score_file(model, source, many, id_column="id", chunk_rows=7, workers=2)
    a, b = pq.read_table(one), pq.read_table(many)
    assert a.schema.equals(b.schema)
    assert a.column("id").equals(b.column("id"))
    assert a.column("prediction").equals(b.column("prediction"))
    # the probabilities agree to the last few bits: BLAS picks its kernels by matrix size, so
    # a 7-row chunk and a 1,000-row one may round the last bit differently
    for name in ("probability_no", "probability_yes"):
        np.testing.assert_allclose(b.column(name).to_numpy(), a.column(name).to_numpy(), rtol=1e-12)
    assert a.schema.field("id").type == pa.string()
    assert a.schema.field("prediction").type == pa.string()
    assert a.schema.field("probability_yes").type == pa.float64()
    assert pq.ParquetFile(many).metadata.num_row_groups > 1


def test_regressor_writes_float_predictions(tmp_path: Path) -> None:
    table = toy_table(200)
    fitted = fit_transform(
        table.drop_columns(["y"]).append_column("t", table["x"]), _reg_schema(), "t"
    )
    estimator, _ = create_estimator("sklearn:Ridge", "regression", {})
    estimator.fit(fitted.matrix(table), table.column("x").to_numpy())
    path = str(tmp_path / "reg")
    save_model(path, estimator, fitted, task="regression", label="t")
    loaded = load_model(path)
    source = _write(table.drop_columns(["y"]), tmp_path / "in.csv")
    out = str(tmp_path / "out.parquet")
    score_file(loaded, source, out)
    got = pq.read_table(out)
    assert got.column_names == ["prediction"]
    assert got.schema.field("prediction").type == pa.float64()
    np.testing.assert_allclose(got.column("prediction").to_numpy(), loaded.predict(table))


def _reg_schema():  # type: ignore[no-untyped-def]
    from conveyor.data.model import DataSchema, FeatureSchema, FeatureType

    return DataSchema(
        [
            FeatureSchema("x", FeatureType.FLOAT),
            FeatureSchema("c", FeatureType.STRING, values=["a", "b"]),
            FeatureSchema("t", FeatureType.FLOAT),
        ]
    )


def test_odd_csv_reads_with_conveyor_csv_options(model: LoadedModel, tmp_path: Path) -> None:
    """A headerless Latin-1 file with ', ' between fields and '?' for missing values."""
    source = tmp_path / "odd.data"
    source.write_bytes("1.5, a, caf\xe9\n?, b, na\xefve\n-2.0, ?, x\n".encode("latin-1"))
    options = CsvOptions.create(
        header=False,
        column_names=["x", "c", "note"],
        delimiter=", ",
        null_values=["?"],
        encoding="latin-1",
    )
    out = str(tmp_path / "out.jsonl")
    score_file(model, str(source), out, input_format="csv", csv=options, id_column="note")
    got = _read(out)
    assert got.column("note").to_pylist() == ["caf\xe9", "na\xefve", "x"]
    expected = {"x": [1.5, None, -2.0], "c": ["a", "b", None]}
    assert got.column("prediction").to_pylist() == list(model.predict(expected))


@pytest.mark.parametrize(
    ("content", "suffix", "words"),
    [
        ("id,c\nr1,a\n", ".csv", ["'x'", "no column"]),
        ('{"id": "r1", "x": 1.0}\n', ".jsonl", ["'c'", "no column"]),
        ("id,x,c\nr1,1.0,a\nr2,abc,b\n", ".csv", ["'x'", "FLOAT"]),
        ('{"x": 1.0, "c": "a"}\n{"x": "abc", "c": "a"}\n', ".jsonl", ["jsonl"]),
        ("not parquet at all", ".parquet", ["Cannot read", "bad.parquet"]),
    ],
)
def test_bad_input_gives_a_clear_error_and_leaves_no_output(
    model: LoadedModel, tmp_path: Path, content: str, suffix: str, words: list[str]
) -> None:
    source = tmp_path / f"bad{suffix}"
    source.write_text(content)
    out = tmp_path / "out" / "scored.parquet"
    out.parent.mkdir()
    with pytest.raises(ArtifactError) as caught:
        score_file(model, str(source), str(out), chunk_rows=1)
    message = str(caught.value)
    assert str(source.name) in message
    for word in words:
        assert word in message
    assert os.listdir(out.parent) == []


def test_wrong_type_in_a_later_parquet_chunk_names_the_row(
    model: LoadedModel, tmp_path: Path
) -> None:
    x = ["1.0"] * 10 + ["oops"]
    source = _write(pa.table({"x": x, "c": ["a"] * 11}), tmp_path / "in.parquet")
    out = tmp_path / "out.csv"
    out.write_text("previous\n")
    with pytest.raises(ArtifactError, match=r"column 'x': row 11 holds 'oops'"):
        score_file(model, source, str(out), chunk_rows=4)
    assert out.read_text() == "previous\n"  # the old output is untouched
    assert sorted(os.listdir(tmp_path)) == ["in.parquet", "out.csv"]


def test_cli_predict_writes_the_output_and_says_so(model_dir: str, tmp_path: Path) -> None:
    source = _write(_rows(50), tmp_path / "in.csv")
    out = str(tmp_path / "out.parquet")
    result = CliRunner().invoke(
        cli, ["predict", model_dir, source, "-o", out, "--id-column", "id", "--chunk-rows", "8"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 50 rows" in result.output
    assert pq.read_table(out).column("prediction").to_pylist() == list(
        load_model(model_dir).predict(_rows(50))
    )
    other = str(tmp_path / "other.csv")
    missing = CliRunner().invoke(
        cli, ["predict", model_dir, source, "-o", other, "--id-column", "nope"]
    )
    assert missing.exit_code == 1
    assert "no column(s) ['nope']" in missing.output
    assert not os.path.exists(other)
    unknown = CliRunner().invoke(cli, ["predict", model_dir, source, "-o", out + ".xyz"])
    assert unknown.exit_code == 2 and "--output-format" in unknown.output


_PEAK = textwrap.dedent(
    """
    import sys
    from conveyor.model.batch import score_file
    score_file(sys.argv[1], sys.argv[2], sys.argv[3], id_column="text",
               chunk_rows=int(sys.argv[4]), workers=2)
    # this process's own high-water mark: getrusage's ru_maxrss also counts the parent's
    # (a vforked child inherits it at exec), and a pytest worker may hold 600 MB
    with open("/proc/self/status") as status:
        print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
    """
)


def _peak_kib(model_dir: str, source: str, out: str, chunk_rows: int) -> int:
    # one malloc arena: threads that contend for the allocator open more arenas, each keeping
    # freed memory, and the peak would measure the contention, not the data
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, model_dir, source, out, str(chunk_rows)],
        env={**os.environ, "MALLOC_ARENA_MAX": "1"},
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout.split()[-1])


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_peak_memory_stays_flat_for_a_file_ten_times_larger(
    model_dir: str, tmp_path: Path, suffix: str
) -> None:
    """Rows of 1 kB (an id column of text): 20,000 rows hold 20 MB, 200,000 rows 200 MB.
    Scored in chunks of 2,000 rows, the big file peaks near the small one; read in one
    chunk (what a reader of the whole file would do), it does not: the check can fail."""
    table = _wide_rows(20_000)
    small = _write(table, tmp_path / f"small{suffix}")
    big_path = tmp_path / f"big{suffix}"
    if suffix == ".parquet":
        with pq.ParquetWriter(big_path, table.schema) as writer:
            for _ in range(10):
                writer.write_table(table, row_group_size=5_000)
    else:
        with pacsv.CSVWriter(big_path, table.schema) as writer:
            for _ in range(10):
                writer.write_table(table)
    small_kib = _peak_kib(model_dir, small, str(tmp_path / "s.parquet"), 2_000)
    big_kib = _peak_kib(model_dir, str(big_path), str(tmp_path / "b.parquet"), 2_000)
    assert pq.ParquetFile(tmp_path / "b.parquet").metadata.num_rows == 200_000
    assert big_kib < small_kib * 1.25, (small_kib, big_kib)
    whole_kib = _peak_kib(model_dir, str(big_path), str(tmp_path / "w.parquet"), 10**9)
    assert whole_kib > small_kib * 1.25, (small_kib, whole_kib)


def _wide_rows(n: int) -> pa.Table:
    rng = np.random.default_rng(1)
    return pa.table(
        {
            "x": rng.normal(size=n),
            "c": rng.choice(["a", "b"], n),
            "text": [f"{i:09d}" + "-" * 991 for i in range(n)],
        }
    )


def test_fsspec_urls_in_and_out(model: LoadedModel, tmp_path: Path) -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    rows = _rows(200)
    local = _write(rows, tmp_path / "in.csv")
    fs.put(local, "/batch-test/in.csv")
    score_file(model, "memory://batch-test/in.csv", "memory://batch-test/out.jsonl", id_column="id")
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls("/batch-test", detail=False)) == [
        "in.csv",
        "out.jsonl",
    ]
    with fs.open("/batch-test/out.jsonl", "r") as fh:
        got = [json.loads(line) for line in fh]
    assert [r["prediction"] for r in got] == list(model.predict(rows))
    assert [r["id"] for r in got] == rows.column("id").to_pylist()
    with pytest.raises(ArtifactError, match="no column"):
        score_file(model, "memory://batch-test/out.jsonl", "memory://batch-test/bad.parquet")
    assert "bad.parquet" not in str(fs.ls("/batch-test", detail=False))
    fs.rm("/batch-test", recursive=True)
