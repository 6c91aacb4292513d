"""The public ``check_component`` helper runs one component alone and checks its contract."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conveyor._internal.importing import import_file
from conveyor.testing import check_component

PIPELINES = Path(__file__).resolve().parents[1] / "integration" / "pipelines"


@pytest.fixture
def basic():
    sys.path.insert(0, str(PIPELINES))
    yield import_file(str(PIPELINES / "basic.py"))
    sys.path.remove(str(PIPELINES))


def test_check_component_runs_a_component_with_input_files(basic, tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("abcd")
    result = check_component(basic.train, parameters={"C": 2.0}, inputs={"data": str(data)})
    assert result.outputs.parameters == {"Output": 8.0}
    model = Path(result.outputs.artifacts["model"].uri)
    assert result.outputs.artifacts.keys() == {"model", "metrics"}
    assert not model.exists()  # the throwaway store is gone once the check returns


def test_check_component_keeps_the_outputs_in_a_given_workdir(basic, tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("ab")
    result = check_component(
        basic.train, inputs={"data": str(data)}, workdir=str(tmp_path / "work")
    )
    weights = Path(result.outputs.artifacts["model"].uri) / "weights.json"
    assert json.loads(weights.read_text()) == {"C": 1.0, "n": 2}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("raises", "boom in user code"),
        ("returns_wrong_type", "declares integer"),
        ("forgets_output", "did not write its output"),
    ],
)
def test_check_component_reports_a_broken_component(basic, name, message):
    with pytest.raises(AssertionError, match=message):
        check_component(getattr(basic, name))


def test_check_component_asks_for_missing_inputs(basic):
    with pytest.raises(AssertionError, match=r"give files for inputs \['data'\]"):
        check_component(basic.train)
