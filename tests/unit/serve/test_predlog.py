"""PredictionLog: sampled, bounded, non-blocking, written to Parquet atomically, per process."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import fsspec
import pyarrow.parquet as pq
import pytest

from conveyor.data.prediction_logs import is_log_file
from conveyor.serve.predlog import PredictionLog

COLUMNS: dict[str, list[Any]] = {"age": [39, 50], "sex": ["Male", None]}
OUTPUTS: dict[str, Any] = {
    "predictions": ["<=50K", ">50K"],
    "probabilities": [{"<=50K": 0.8, ">50K": 0.2}, {"<=50K": 0.3, ">50K": 0.7}],
    "model": "census",
}


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _wait_written(log: PredictionLog, rows: int) -> None:
    deadline = time.monotonic() + 30
    while log.counts()["rows_written"] < rows:
        assert time.monotonic() < deadline, log.counts()
        time.sleep(0.01)


def test_rows_are_written_typed_by_the_signature_under_model_and_version(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), input_types={"age": "FLOAT", "sex": "STRING"})
    log.record(model="census", version="3", role="primary", columns=COLUMNS, outputs=OUTPUTS,
               request_id="req-1")  # fmt: skip
    log.record(model="census", version="3", role="shadow", columns={"age": [20]},
               outputs={"predictions": ["<=50K"]})  # fmt: skip
    log.close()
    [file] = _files(tmp_path)
    assert file.parent == tmp_path / "census" / "3" and is_log_file(file.name)
    assert f"-{os.getpid()}-" in file.name
    table = pq.read_table(file)
    assert table.schema.field("inputs").type.field("age").type == "double"  # FLOAT, given ints
    rows = table.to_pylist()
    assert [(r["request_id"], r["row"], r["role"]) for r in rows[:2]] == [
        ("req-1", 0, "primary"),
        ("req-1", 1, "primary"),
    ]
    assert rows[0]["inputs"] == {"age": 39.0, "sex": "Male"}
    assert rows[1]["outputs"]["probabilities"] == [("<=50K", 0.3), (">50K", 0.7)]
    assert "model" not in rows[0]["outputs"]  # not one value per row: not logged
    assert rows[2]["inputs"] == {"age": 20.0, "sex": None}
    assert rows[2]["outputs"] == {"predictions": "<=50K", "probabilities": None}
    assert {r["model"] for r in rows} == {"census"} and {r["version"] for r in rows} == {"3"}
    assert rows[0]["timestamp"].tzinfo is not None
    counts = log.counts()
    assert (counts["rows_written"], counts["files_written"], counts["rows_dropped"]) == (3, 1, 0)


def test_requests_are_sampled_whole_at_the_rate(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), rate=0.25, seed=7)
    for _ in range(400):
        log.record(model="m", version=None, role="primary", columns=COLUMNS, outputs=OUTPUTS)
    log.close()
    counts = log.counts()
    assert counts["requests_logged"] + counts["requests_sampled_out"] == 400
    assert 60 < counts["requests_logged"] < 140
    table = pq.read_table(_files(tmp_path)[0])
    assert table.num_rows == 2 * counts["requests_logged"]  # both rows of each logged request
    assert _files(tmp_path)[0].parent.name == "unversioned"


def test_a_full_buffer_drops_and_counts_rows_without_blocking(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), max_buffered_rows=5, flush_seconds=3600)
    for _ in range(3):  # 2 + 2 rows fit, the third request does not
        log.record(model="m", version="1", role="primary", columns=COLUMNS, outputs=OUTPUTS)
    assert log.counts()["rows_dropped"] == 2
    log.close()
    counts = log.counts()
    assert (counts["rows_written"], counts["rows_dropped"], counts["rows_buffered"]) == (4, 2, 0)
    log.record(model="m", version="1", role="primary", columns=COLUMNS, outputs=OUTPUTS)
    assert log.counts()["rows_dropped"] == 4  # closed: dropped, counted, no error


def test_bad_input_is_counted_never_raised(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path))
    log.record(model="m", version="1", role="primary", columns={"x": 5}, outputs={})  # type: ignore[dict-item]
    log.record(model="../escape", version="1", role="primary", columns={"x": [1]}, outputs={})
    log.record(model="m", version="a/b", role="primary", columns={"x": [1]}, outputs={})
    log.close()
    counts = log.counts()
    assert counts["errors"] == 3 and counts["rows_written"] == 0
    assert "cannot be a folder name" in counts["last_error"]
    assert _files(tmp_path) == [] and not (tmp_path.parent / "escape").exists()


def test_an_open_file_is_hidden_until_it_is_published(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), flush_seconds=0.01)
    log.record(model="m", version="1", role="primary", columns=COLUMNS, outputs=OUTPUTS)
    _wait_written(log, 2)
    [partial] = _files(tmp_path)
    assert partial.name.startswith(".") and not is_log_file(partial.name)
    log.close()
    [published] = _files(tmp_path)
    assert is_log_file(published.name) and pq.read_table(published).num_rows == 2


def test_files_rotate_by_size(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), rotate_bytes=1, flush_seconds=0.01)
    for n in range(3):
        log.record(model="m", version="1", role="primary", columns=COLUMNS, outputs=OUTPUTS)
        _wait_written(log, 2 * (n + 1))
    log.close()
    files = [f for f in _files(tmp_path) if is_log_file(f.name)]
    assert len(files) == 3 and len({f.name for f in files}) == 3
    assert sum(pq.read_table(f).num_rows for f in files) == 6


def test_files_rotate_by_age(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), rotate_seconds=0.01, flush_seconds=0.01)
    log.record(model="m", version="1", role="primary", columns=COLUMNS, outputs=OUTPUTS)
    deadline = time.monotonic() + 30
    while log.counts()["files_written"] < 1:  # published while the log is still open
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert [f for f in _files(tmp_path) if is_log_file(f.name)]
    log.close()


def test_a_new_output_shape_starts_a_new_file(tmp_path: Path) -> None:
    log = PredictionLog(str(tmp_path), flush_seconds=0.01)
    log.record(model="m", version="1", role="primary", columns=COLUMNS, outputs=OUTPUTS)
    _wait_written(log, 2)
    log.record(model="m", version="1", role="primary", columns=COLUMNS,
               outputs={"predictions": [1.5, 2.5]})  # fmt: skip
    log.close()
    files = _files(tmp_path)
    assert len(files) == 2
    assert sorted(pq.read_table(f).schema.field("outputs").type.num_fields for f in files) == [1, 2]


def _log_in_process(root: str) -> None:
    log = PredictionLog(root)
    for _ in range(10):
        log.record(model="m", version="1", role="primary", columns=COLUMNS, outputs=OUTPUTS)
    log.close()


def test_several_processes_log_to_one_folder_in_files_of_their_own(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_log_in_process, args=(str(tmp_path),)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    files = _files(tmp_path)
    assert len(files) == 3 and all(is_log_file(f.name) for f in files)
    assert sum(pq.read_table(f).num_rows for f in files) == 3 * 10 * 2


def test_an_fsspec_url_is_a_log_root() -> None:
    root = "memory://predlog-test/logs"
    log = PredictionLog(root)
    log.record(model="m", version="2", role="canary", columns=COLUMNS, outputs=OUTPUTS)
    log.close()
    fs = fsspec.filesystem("memory")
    [name] = fs.ls("/predlog-test/logs/m/2", detail=False)
    assert is_log_file(name.rsplit("/", 1)[1])
    with fs.open(name, "rb") as fh:
        assert pq.read_table(fh).column("role").to_pylist() == ["canary", "canary"]
    fs.rm("/predlog-test", recursive=True)


def test_a_bad_rate_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"rate must be in \(0, 1\]"):
        PredictionLog(str(tmp_path), rate=0)


def test_many_threads_at_once_every_row_is_written_or_counted_as_dropped(tmp_path: Path) -> None:
    import threading

    log = PredictionLog(str(tmp_path), max_buffered_rows=300, flush_seconds=0.01)

    def flood() -> None:
        for _ in range(500):
            log.record(model="m", version="1", role="primary", columns=COLUMNS, outputs=OUTPUTS)

    threads = [threading.Thread(target=flood) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    counts = log.counts()
    assert counts["rows_logged"] + counts["rows_dropped"] == 8 * 500 * 2
    assert counts["rows_written"] == counts["rows_logged"] > 0 and counts["errors"] == 0
    written = sum(pq.read_table(f).num_rows for f in _files(tmp_path))
    assert written == counts["rows_written"]


def test_a_failing_write_drops_and_counts_its_rows_and_logging_goes_on(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where the model's folder would go")
    log = PredictionLog(str(tmp_path), flush_seconds=0.01)
    log.record(model="blocked", version="1", role="primary", columns=COLUMNS, outputs=OUTPUTS)
    deadline = time.monotonic() + 30
    while log.counts()["errors"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    log.record(model="fine", version="1", role="primary", columns=COLUMNS, outputs=OUTPUTS)
    log.close()
    counts = log.counts()
    assert (counts["rows_dropped"], counts["rows_written"], counts["errors"]) == (2, 2, 1)
    assert [f.parent.name for f in _files(tmp_path) if f.suffix == ".parquet"] == ["1"]
