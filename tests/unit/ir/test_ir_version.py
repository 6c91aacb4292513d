"""The IR is versioned: readers accept the same major version and say how to fix the rest."""

from __future__ import annotations

import json

import pytest

from conveyor.errors import CompilationError
from conveyor.ir import IR_VERSION, PipelineSpec, dumps, loads


def _document(version: object) -> str:
    data = json.loads(dumps(PipelineSpec(name="p")))
    data["ir_version"] = version
    return json.dumps(data)


def test_dumps_writes_the_current_ir_version() -> None:
    assert IR_VERSION == "1.1"
    assert json.loads(dumps(PipelineSpec(name="p")))["ir_version"] == IR_VERSION


def test_loads_reads_a_document_of_an_older_minor_version() -> None:
    spec = loads(_document("1.0"))

    assert spec.ir_version == "1.0"
    assert spec.groups == {}


def test_loads_accepts_a_newer_minor_version_and_keeps_it() -> None:
    spec = loads(_document("1.7"))

    assert spec.ir_version == "1.7"
    assert json.loads(dumps(spec))["ir_version"] == "1.7"


@pytest.mark.parametrize("version", ["2.0", "0.9", "10.0"])
def test_loads_rejects_another_major_version_with_a_fix(version: str) -> None:
    with pytest.raises(CompilationError) as info:
        loads(_document(version))

    message = str(info.value)
    assert repr(version) in message
    assert "reads 1.x" in message
    assert "conveyor compile" in message


def test_loads_rejects_a_document_without_a_version() -> None:
    data = json.loads(dumps(PipelineSpec(name="p")))
    del data["ir_version"]

    with pytest.raises(CompilationError, match="no 'ir_version'"):
        loads(json.dumps(data))
