"""An IR file the CLI cannot read is refused with a message, exit 2 and no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conveyor.ir import IR_VERSION

pytestmark = pytest.mark.slow


@pytest.fixture
def compiled(cli, project: Path) -> Path:
    assert cli("compile", "basic.py:demo", "-o", "demo.json").returncode == 0
    return project / "demo.json"


def _exec_args(ir: Path, home: Path) -> list[str]:
    return [
        "exec",
        "--ir",
        str(ir),
        "--task",
        "ingest",
        "--run-id",
        "r1",
        "--metadata-url",
        f"sqlite:///{home}/metadata.db",
        "--artifact-root",
        str(home / "artifacts"),
    ]


def test_run_and_exec_refuse_an_ir_that_is_not_utf8(cli, project: Path, compiled: Path) -> None:
    text = compiled.read_text("utf-8").replace('"name": "demo"', '"name": "d\u00e9mo"')
    latin1 = project / "latin1.json"
    latin1.write_bytes(text.encode("latin-1"))

    for args in (["run", "latin1.json"], _exec_args(latin1, project / ".conveyor")):
        proc = cli(*args)

        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert "latin1.json: IR is not UTF-8 text: byte 0xe9" in proc.stderr.replace("\n", " ")


def test_run_and_exec_refuse_an_ir_of_a_newer_minor_version(
    cli, project: Path, compiled: Path
) -> None:
    data = json.loads(compiled.read_text("utf-8"))
    data["ir_version"], data["conveyor_version"] = "1.9", "9.1.0"
    newer = project / "newer.json"
    newer.write_text(json.dumps(data), "utf-8")

    for args in (["run", "newer.json"], _exec_args(newer, project / ".conveyor")):
        proc = cli(*args)

        message = proc.stderr.replace("\n", " ")
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert "written by Conveyor 9.1.0 (IR 1.9)" in message
        assert f"reads IR up to {IR_VERSION}: upgrade Conveyor" in message
