"""Metrics: ``log_metric`` records numbers, ``finalize_output`` writes them as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conveyor.types import Metrics, Model


def test_log_metric_records_numbers_as_floats() -> None:
    m = Metrics()

    m.log_metric("accuracy", 0.93)
    m.log_metric("rows", 120)

    assert m.metadata == {"accuracy": 0.93, "rows": 120.0}
    assert isinstance(m.metadata["rows"], float)


@pytest.mark.parametrize("value", [True, "0.9", None, [1.0]])
def test_log_metric_rejects_a_value_that_is_not_a_number(value: object) -> None:
    with pytest.raises(TypeError, match="Metric 'score' must be a number"):
        Metrics().log_metric("score", value)  # type: ignore[arg-type]


def test_finalize_output_writes_the_logged_metrics_as_sorted_json(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    m = Metrics(path=str(path))
    m.log_metric("b", 2)
    m.log_metric("a", 1)

    m.finalize_output()

    assert path.read_text() == '{"a": 1.0, "b": 2.0}'


def test_finalize_output_keeps_a_file_the_component_wrote(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    m = Metrics(path=str(path))
    m.write_text(json.dumps({"custom": True}))
    m.log_metric("a", 1)

    m.finalize_output()

    assert json.loads(path.read_text()) == {"custom": True}


def test_finalize_output_of_a_plain_artifact_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"

    Model(path=str(path)).finalize_output()

    assert not path.exists()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_log_metric_rejects_values_json_cannot_hold(value: float) -> None:
    m = Metrics()
    with pytest.raises(ValueError, match="must be finite numbers"):
        m.log_metric("loss", value)
    assert "loss" not in m.metadata
