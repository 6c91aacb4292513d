"""The IR is versioned: readers accept the same major version and say how to fix the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import conveyor
from conveyor.errors import CompilationError
from conveyor.ir import IR_VERSION, PipelineSpec, dumps, loads
from conveyor.ir.serialize import load_file


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


def test_dumps_records_the_conveyor_version_that_wrote_the_document() -> None:
    assert json.loads(dumps(PipelineSpec(name="p")))["conveyor_version"] == conveyor.__version__


def test_loads_refuses_a_newer_minor_version_naming_its_writer_and_the_fix() -> None:
    data = json.loads(_document("1.9"))
    data["conveyor_version"] = "7.3.0"

    with pytest.raises(CompilationError) as info:
        loads(json.dumps(data))

    message = str(info.value)
    assert "written by Conveyor 7.3.0 (IR 1.9)" in message
    assert f"reads IR up to {IR_VERSION}" in message
    assert "upgrade Conveyor" in message


def test_loads_refuses_a_newer_minor_version_without_a_recorded_writer() -> None:
    data = json.loads(_document("1.9"))
    del data["conveyor_version"]

    with pytest.raises(CompilationError, match=r"written by a newer Conveyor \(IR 1\.9\)"):
        loads(json.dumps(data))


def test_loads_reads_a_patch_version_of_its_own_minor() -> None:
    assert loads(_document(IR_VERSION + ".3")).ir_version == IR_VERSION + ".3"


@pytest.mark.parametrize("version", ["one", "1.x", "", "1..1"])
def test_loads_rejects_a_version_that_is_not_a_number(version: str) -> None:
    with pytest.raises(CompilationError, match="is not a version"):
        loads(_document(version))


def test_loads_rejects_bytes_that_are_not_utf8_without_a_traceback() -> None:
    text = _document(IR_VERSION).replace('"p"', '"caf\u00e9"').encode("latin-1")

    with pytest.raises(CompilationError, match=r"not UTF-8 text: byte 0xe9 at offset \d+"):
        loads(text)


def test_load_file_names_the_file_it_refuses(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"ir_version": "1.1", "pipeline": {"name": "caf\xe9"}}')

    with pytest.raises(CompilationError) as info:
        load_file(str(path))

    assert str(info.value).startswith(f"{path}: IR is not UTF-8 text")


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
