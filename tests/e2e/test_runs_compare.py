"""``conveyor runs compare``: two runs of a pipeline with different parameters, side by side."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_output import as_json

pytestmark = pytest.mark.slow

COMPARE = "from conveyor.cli.compare import compare; compare()"


def test_runs_compare_shows_the_parameter_change_and_same_code(
    cli: Callable[..., subprocess.CompletedProcess[str]], project: Path
) -> None:
    first = as_json(cli("run", "basic.py:demo", "--json", "-q"))["run_id"]
    second = as_json(cli("run", "basic.py:demo", "--param", "C=2", "--json", "-q"))["run_id"]
    env = {"CONVEYOR_HOME": str(project / ".conveyor"), "PATH": "/usr/bin:/bin"}

    def compare(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", COMPARE, first, second, *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    proc = compare("--json")
    assert proc.returncode == 0, proc.stderr
    data = as_json(proc)
    assert data["runs"] == [first, second]
    rows = {(r["section"], r["name"]): r for r in data["rows"]}
    assert rows[("parameter", "C")]["values"] == [1.0, 2.0]
    assert rows[("parameter", "C")]["differs"] is True
    assert rows[("parameter", "text")]["differs"] is False
    assert rows[("metric", "train.metrics.score")]["values"] == [11.0, 22.0]
    code = {name: r for (section, name), r in rows.items() if section == "code"}
    assert set(code) == {"ingest", "prepare", "train"}
    for row in code.values():  # same code in both runs, as a short hex digest
        assert not row["differs"] and len(row["values"][0]) == 12
        int(row["values"][0], 16)
    assert ("data", "train.data") in rows and not rows[("data", "train.data")]["differs"]
    assert rows[("run", "state")]["values"] == ["COMPLETE", "COMPLETE"]

    only = as_json(compare("--json", "--only-diff"))
    assert {(r["section"], r["name"]) for r in only["rows"]} == {
        ("parameter", "C"),
        ("metric", "train.metrics.score"),
    }
    table = compare()
    assert table.returncode == 0, table.stderr
    assert "≠ C" in table.stdout and "2 of" in table.stdout

    missing = subprocess.run(
        [sys.executable, "-c", COMPARE, first, "no-such-run"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "no-such-run" in missing.stderr
