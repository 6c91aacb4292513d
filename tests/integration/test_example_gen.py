"""example_gen end to end: real pipelines, real stores, check_component."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conveyor.components.data import example_gen, sql_example_gen
from conveyor.metadata import ExecutionState
from conveyor.testing import check_component

PENGUINS = Path(__file__).resolve().parents[1] / "data" / "penguins.csv"
needs_data = pytest.mark.skipif(not PENGUINS.exists(), reason="shared datasets missing")


def _examples(result):
    return result.outputs("example_gen").artifacts["examples"]


@needs_data
def test_example_gen_check_component_writes_splits_and_metadata(tmp_path):
    result = check_component(
        example_gen,
        parameters={"input_pattern": str(PENGUINS), "split_ratios": {"train": 0.75, "eval": 0.25}},
        workdir=str(tmp_path),
    )
    assert result.outputs.parameters["Output"] == 344
    meta = result.outputs.artifacts["examples"].properties
    assert meta["split_names"] == ["train", "eval"]
    assert sum(meta["row_counts"].values()) == 344
    assert meta["columns"]["body_mass_g"] == "INT"
    assert meta["source_files"] == [str(PENGUINS)]
    parts = list((tmp_path / "artifacts").rglob("train/part-00000.parquet"))
    assert len(parts) == 1
    assert pq.read_table(parts[0]).num_rows == meta["row_counts"]["train"]


def test_sql_example_gen_check_component(tmp_path):
    db = tmp_path / "d.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, v TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"v{i}") for i in range(200)])
    result = check_component(
        sql_example_gen,
        parameters={"url": f"sqlite:///{db}", "query": "SELECT * FROM t", "split_key": "id"},
        workdir=str(tmp_path / "w"),
    )
    meta = result.outputs.artifacts["examples"].properties
    assert result.outputs.parameters["Output"] == 200
    assert meta["columns"] == {"id": "INT", "v": "STRING"}


def test_example_gen_is_deterministic_across_runs_and_reruns(load, run_pipeline, tmp_path):
    (tmp_path / "d.csv").write_text("id,v\n" + "".join(f"{i},{i % 7}\n" for i in range(2000)))
    pipe = load("data_pipelines").ingest
    first = run_pipeline(pipe, {"input_pattern": str(tmp_path / "d.csv")})
    second = run_pipeline(pipe, {"input_pattern": str(tmp_path / "d.csv")})
    assert second.tasks["example_gen"].state == ExecutionState.CACHED  # same file bytes
    assert second.tasks["count_train"].state == ExecutionState.CACHED
    again = run_pipeline(pipe, {"input_pattern": str(tmp_path / "d.csv")}, use_cache=False)
    assert again.tasks["example_gen"].state == ExecutionState.COMPLETE  # read again ...
    assert _examples(again).fingerprint == _examples(first).fingerprint  # ... same bytes out
    assert first.outputs("count_train").parameters == again.outputs("count_train").parameters
    assert 1500 < first.outputs("count_train").parameters["Output"] < 1700


def test_example_gen_new_span_changes_the_output(load, run_pipeline, tmp_path):
    pattern = str(tmp_path / "span-{SPAN}" / "*.csv")
    (tmp_path / "span-1").mkdir()
    (tmp_path / "span-1" / "a.csv").write_text("x\n" + "".join(f"{i}\n" for i in range(100)))
    pipe = load("data_pipelines").ingest
    first = run_pipeline(pipe, {"input_pattern": pattern})
    assert _examples(first).properties["span"] == 1
    (tmp_path / "span-2").mkdir()
    (tmp_path / "span-2" / "a.csv").write_text("x\n" + "".join(f"{i}\n" for i in range(300)))
    second = run_pipeline(pipe, {"input_pattern": pattern})
    assert _examples(second).properties["span"] == 2
    assert second.tasks["count_train"].state == ExecutionState.COMPLETE
    assert second.outputs("example_gen").parameters["Output"] == 300


def test_example_gen_presplit_folders(load, run_pipeline, tmp_path):
    base = tmp_path / "data"
    for split, n in (("train", 30), ("eval", 10)):
        (base / split).mkdir(parents=True)
        (base / split / "a.csv").write_text("x\n" + "".join(f"{i}\n" for i in range(n)))
    result = run_pipeline(
        load("data_pipelines").ingest, {"input_pattern": str(base), "presplit": True}
    )
    meta = _examples(result).properties
    assert meta["split_names"] == ["train", "eval"]
    assert meta["row_counts"] == {"train": 30, "eval": 10}
    assert result.outputs("count_train").parameters == {"Output": 30}


def test_example_gen_malformed_file_fails_with_file_and_line(load, run_pipeline, tmp_path):
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,4,5\n")
    result = run_pipeline(
        load("data_pipelines").ingest, {"input_pattern": str(tmp_path / "bad.csv")}
    )
    assert result.failed_tasks == ["example_gen"]
    assert f"{tmp_path / 'bad.csv'}: line 3" in (result.tasks["example_gen"].error or "")


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        (
            "blob.csv",
            b"a,b\n1,2\n\x89PNG\r\n\x00\x00IHDR\x00",
            "line 4 (byte 14): the file holds binary",
        ),
        ("latin.csv", "name\nAnn\nJos\xe9\n".encode("latin-1"), "line 3: the bytes are not valid"),
    ],
    ids=["binary", "latin-1"],
)
def test_example_gen_bad_csv_fails_with_the_message_alone(
    load, run_pipeline, tmp_path, name, content, words
):
    (tmp_path / name).write_bytes(content)
    result = run_pipeline(load("data_pipelines").ingest, {"input_pattern": str(tmp_path / name)})
    task = result.tasks["example_gen"]
    assert result.failed_tasks == ["example_gen"]
    assert f"{tmp_path / name}: {words}" in (task.error or "")
    assert task.traceback is None  # the message says it all: no traceback of Conveyor's code


def test_example_gen_reads_a_headerless_file_with_its_csv_options(tmp_path):
    path = tmp_path / "adult.data"
    path.write_text(
        "39, State-gov, 77516, <=50K\n50, ?, 83311, <=50K\n38, Private, ?, >50K\n"
        "# a comment line\n53, Private, 234721, <=50K\n"
    )
    result = check_component(
        example_gen,
        parameters={
            "input_pattern": str(path),
            "format": "csv",
            "header": False,
            "column_names": ["age", "workclass", "fnlwgt", "income"],
            "delimiter": ", ",
            "null_values": ["?"],
            "comment": "#",
            "split_ratios": {"train": 1.0},
        },
        workdir=str(tmp_path / "w"),
    )
    meta = result.outputs.artifacts["examples"].properties
    assert result.outputs.parameters["Output"] == 4
    assert meta["columns"] == {
        "age": "INT",
        "workclass": "STRING",
        "fnlwgt": "INT",
        "income": "STRING",
    }
    part = next((tmp_path / "w").rglob("train/part-00000.parquet"))
    rows = pq.read_table(part).to_pylist()
    assert sorted(r["workclass"] or "" for r in rows) == ["", "Private", "Private", "State-gov"]


def test_sql_example_gen_in_a_pipeline(load, run_pipeline, tmp_path):
    db = tmp_path / "d.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, grp TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"g{i % 9}") for i in range(500)])
    result = run_pipeline(
        load("data_pipelines").ingest_sql,
        {"url": f"sqlite:///{db}", "query": "SELECT * FROM t"},
    )
    assert result.outputs("sql_example_gen").parameters == {"Output": 500}
    assert 300 < result.outputs("count_train").parameters["Output"] < 500


def test_example_gen_bad_csv_option_fails_with_the_message_alone(load, run_pipeline, tmp_path):
    (tmp_path / "a.csv").write_text("a,b\n1,2\n")
    result = run_pipeline(
        load("data_pipelines").ingest_skipping,
        {"input_pattern": str(tmp_path / "a.csv"), "skip_rows": -1},
    )
    task = result.tasks["example_gen"]
    assert result.failed_tasks == ["example_gen"]
    assert "skip_rows must be 0 or more, got -1" in (task.error or "")
    assert task.traceback is None  # a standard component's refusal: no traceback of ours
