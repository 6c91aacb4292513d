"""Names that would become paths outside CONVEYOR_HOME or the artifact root are refused up
front by the CLI, an IR file, the Python API and the execution entrypoint, and nothing is
written outside."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _everything(root: Path) -> set[Path]:
    return set(root.rglob("*"))


@pytest.mark.parametrize("run_id", ["../escaped", "/ABS", "x" * 300])
def test_run_refuses_a_run_id_that_is_not_a_plain_name(cli, project: Path, run_id: str) -> None:
    run_id = run_id.replace("/ABS", str(project.parent / "abs-run"))
    before = _everything(project.parent)

    proc = cli("run", "basic.py:demo", "--run-id", run_id)

    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "OSError" not in proc.stderr
    assert "Invalid value for '--run-id': run id" in proc.stderr
    assert _everything(project.parent) == before  # not even CONVEYOR_HOME was created


def test_run_refuses_an_ir_whose_task_name_leaves_the_artifact_root(cli, project: Path) -> None:
    assert cli("compile", "basic.py:demo", "-o", "demo.json").returncode == 0
    doc = json.loads((project / "demo.json").read_text("utf-8"))
    doc["tasks"]["../../../../escaped"] = doc["tasks"].pop("ingest")
    for task in doc["tasks"].values():
        for ref in task["inputs"].values():
            if ref.get("task_output", {}).get("task") == "ingest":
                ref["task_output"]["task"] = "../../../../escaped"
    (project / "evil.json").write_text(json.dumps(doc), "utf-8")
    before = _everything(project.parent)

    proc = cli("run", "evil.json")

    assert proc.returncode == 2, proc.stderr
    assert "task name '../../../../escaped' is not a valid name" in proc.stderr
    assert not (project.parent / "escaped").exists()
    assert _everything(project.parent) == before


def test_exec_refuses_a_run_id_that_leaves_the_artifact_root(cli, project: Path) -> None:
    assert cli("compile", "basic.py:demo", "-o", "demo.json").returncode == 0
    home = project / ".conveyor"
    proc = cli(
        "exec",
        "--ir",
        "demo.json",
        "--task",
        "ingest",
        "--run-id",
        "../../escaped",
        "--metadata-url",
        f"sqlite:///{home}/metadata.db",
        "--artifact-root",
        str(home / "artifacts"),
    )

    assert proc.returncode == 2, proc.stderr
    assert "run id '../../escaped' is not a valid name" in proc.stderr
    assert not (home / "escaped").exists() and not (project / "escaped").exists()


def test_python_api_refuses_a_run_id_that_leaves_the_home(cli, project: Path) -> None:
    script = project / "api.py"
    script.write_text(
        "import sys\n"
        "import conveyor\n"
        "from conveyor.errors import InvalidNameError\n"
        "from basic import demo\n"
        "try:\n"
        "    conveyor.run(demo, {'text': 'x'}, run_id='../escaped', in_process=True)\n"
        "except InvalidNameError as exc:\n"
        "    print('refused:', exc)\n"
        "    sys.exit(3)\n",
        "utf-8",
    )
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=project, capture_output=True, text=True, timeout=120
    )

    assert proc.returncode == 3, proc.stderr
    assert "refused: run id '../escaped' is not a valid name" in proc.stdout
    assert not (project / "escaped").exists() and not (project.parent / "escaped").exists()


def test_run_refuses_logs_that_a_symlink_leads_outside_the_home(cli, project: Path) -> None:
    outside = project.parent / "outside"
    outside.mkdir()
    logs = project / ".conveyor" / "logs"
    logs.mkdir(parents=True)
    (logs / "linked").symlink_to(outside)

    proc = cli("run", "basic.py:demo", "--run-id", "linked")

    assert proc.returncode != 0
    assert "with symbolic links resolved" in proc.stderr
    assert list(outside.iterdir()) == []
