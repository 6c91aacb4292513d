"""Prediction logs -> tables and statistics: time window, roles, models, hidden files."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import fsspec
import pytest

from conveyor.data.model import FeatureType
from conveyor.data.prediction_logs import (
    LogSelection,
    TimeWindow,
    is_prediction_log_dir,
    log_file_name,
    log_files,
    parse_time,
    read_prediction_logs,
    statistics_of_prediction_logs,
)
from conveyor.errors import ArtifactError, ArtifactNotFoundError
from conveyor.serve.predlog import PredictionLog

TYPES = {"age": "INT", "hours": "FLOAT", "sex": "STRING"}


def _record(log: PredictionLog, ages: list[int], *, model: str = "census", role: str = "primary",
            version: str | None = "3") -> None:  # fmt: skip
    log.record(
        model=model, version=version, role=role,
        columns={"age": ages, "hours": [40] * len(ages), "sex": ["F"] * len(ages)},
        outputs={"predictions": [0] * len(ages)},
    )  # fmt: skip


@pytest.fixture
def logs(tmp_path: Path) -> tuple[Path, dt.datetime]:
    """Rows before and after a moment, a shadow's rows, and another version's."""
    log = PredictionLog(str(tmp_path), input_types=TYPES)
    _record(log, [20, 30])
    _record(log, [99], role="shadow")
    time.sleep(0.01)  # the moment falls strictly between the two batches' timestamps
    moment = dt.datetime.now(dt.UTC)
    time.sleep(0.01)
    _record(log, [60, 70, 80], role="canary")
    _record(log, [50], version="4")
    log.close()
    return tmp_path, moment


def _ages(location: str | Path, selection: LogSelection = LogSelection()) -> list[int]:
    return sorted(a for t in read_prediction_logs(str(location), selection)
                  for a in t.column("age").to_pylist())  # fmt: skip


def test_the_inputs_of_primary_and_canary_rows_by_default(logs: tuple[Path, dt.datetime]) -> None:
    root, _ = logs
    assert _ages(root) == [20, 30, 50, 60, 70, 80]  # not the shadow's second scoring
    assert _ages(root, LogSelection(roles=("shadow",))) == [99]
    [table, *_] = read_prediction_logs(str(root))
    assert table.column_names == ["age", "hours", "sex"]


def test_a_time_window_picks_rows_by_their_timestamp(logs: tuple[Path, dt.datetime]) -> None:
    root, moment = logs
    assert _ages(root, LogSelection(window=TimeWindow(since=moment))) == [50, 60, 70, 80]
    assert _ages(root, LogSelection(window=TimeWindow(until=moment))) == [20, 30]


def test_a_model_folder_a_version_folder_or_a_version_filter(
    logs: tuple[Path, dt.datetime],
) -> None:
    root, _ = logs
    assert _ages(root / "census") == [20, 30, 50, 60, 70, 80]
    assert _ages(root / "census" / "4") == [50]
    assert _ages(root, LogSelection(version="3")) == [20, 30, 60, 70, 80]


def test_several_models_need_a_choice(logs: tuple[Path, dt.datetime]) -> None:
    root, _ = logs
    other = PredictionLog(str(root), input_types=TYPES)
    _record(other, [1], model="churn")
    other.close()
    with pytest.raises(ArtifactError, match=r"several models \(census, churn\).*--model"):
        _ages(root)
    assert _ages(root, LogSelection(model="churn")) == [1]


def test_statistics_of_the_logged_inputs_typed_by_the_signature(
    logs: tuple[Path, dt.datetime],
) -> None:
    root, _ = logs
    [serving] = statistics_of_prediction_logs(str(root)).datasets
    assert (serving.name, serving.num_rows) == ("serving", 6)
    assert serving.feature("age").type == FeatureType.INT
    assert serving.feature("hours").type == FeatureType.FLOAT  # sent as 40, logged as 40.0
    assert serving.feature("age").numeric.mean == pytest.approx(310 / 6)
    assert serving.feature("predictions") is None  # outputs are not inputs


def test_no_row_in_the_selection_says_what_was_looked_for(logs: tuple[Path, dt.datetime]) -> None:
    root, moment = logs
    window = TimeWindow(since=moment + dt.timedelta(days=1))
    with pytest.raises(ArtifactNotFoundError, match=r"No logged prediction .* since .*--log-rot"):
        statistics_of_prediction_logs(str(root), LogSelection(window=window))
    with pytest.raises(ArtifactNotFoundError, match="No prediction log folder"):
        statistics_of_prediction_logs(str(root / "nothing"))


def test_files_being_written_hidden_folders_and_other_files_are_not_read(tmp_path: Path) -> None:
    (tmp_path / "m" / "1").mkdir(parents=True)
    for name in (".20261207T180000.000000Z-h-1-000001.parquet.tmp", "notes.txt"):
        (tmp_path / "m" / "1" / name).write_text("not parquet")
    (tmp_path / ".trash" / "1").mkdir(parents=True)
    (tmp_path / ".trash" / "1" / log_file_name(0, "h", 1, 1)).write_text("not parquet")
    assert not is_prediction_log_dir(str(tmp_path))
    assert log_files(str(tmp_path)) == []


def test_a_file_started_after_the_window_is_not_opened(logs: tuple[Path, dt.datetime]) -> None:
    root, moment = logs
    later = moment + dt.timedelta(minutes=5)
    broken = root / "census" / "3" / log_file_name(later.timestamp(), "h", 1, 1)
    broken.write_text("not parquet")
    assert _ages(root, LogSelection(window=TimeWindow(until=moment))) == [20, 30]
    with pytest.raises(ArtifactError, match="Cannot read the prediction log"):
        _ages(root)


def test_logs_under_an_fsspec_url() -> None:
    root = "memory://predlog-read/logs"
    log = PredictionLog(root, input_types=TYPES)
    _record(log, [41, 42])
    log.close()
    assert is_prediction_log_dir(root) and _ages(root) == [41, 42]
    fsspec.filesystem("memory").rm("/predlog-read", recursive=True)


def test_times_are_iso_or_durations_back_from_now() -> None:
    now = dt.datetime(2026, 12, 7, 18, 0, tzinfo=dt.UTC)
    assert parse_time("90m", now=now) == dt.datetime(2026, 12, 7, 16, 30, tzinfo=dt.UTC)
    assert parse_time("1w", now=now) == dt.datetime(2026, 11, 30, 18, 0, tzinfo=dt.UTC)
    assert parse_time("2026-12-07T18:00:00+01:00").utcoffset() == dt.timedelta(hours=1)
    with pytest.raises(ValueError, match=r"Cannot read the time 'yesterday'.*30m, 2h"):
        parse_time("yesterday")
    with pytest.raises(ValueError, match="The time window is empty"):
        TimeWindow(since=now, until=now)
