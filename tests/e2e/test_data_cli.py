"""``conveyor data stats`` from the shell: table, JSON, HTML, errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.data.model import StatisticsCollection

pytestmark = pytest.mark.slow

PENGUINS = Path(__file__).resolve().parents[1] / "data" / "penguins.csv"


def _stats(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from conveyor.cli.data import data; data()", "stats", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text("age,sex,w\n30,F,1\n40,M,2\n,F,0.5\n50,F,1\n")
    return path


def test_data_stats_prints_a_table_and_writes_json_and_html(csv: Path, tmp_path: Path) -> None:
    out = _stats(str(csv), "-o", "s.json", "--html", "r.html", "--slice", "sex", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "age" in out.stdout and "all: 4 rows" in out.stdout and "wrote s.json" in out.stdout
    stats = StatisticsCollection.from_dict(json.loads((tmp_path / "s.json").read_text()))
    assert [d.slice for d in stats.datasets] == [None, "sex=F", "sex=M"]
    age = stats.datasets[0].feature("age")
    assert age is not None and (age.count, age.missing) == (3, 1)
    assert "people.csv" in (tmp_path / "r.html").read_text()


def test_data_stats_json_output_with_weights(csv: Path, tmp_path: Path) -> None:
    out = _stats(str(csv), "--weight", "w", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["datasets"][0]["weighted_num_rows"] == 4.5


@pytest.mark.skipif(not PENGUINS.exists(), reason="shared datasets not present")
def test_data_stats_on_real_data(tmp_path: Path) -> None:
    out = _stats(str(PENGUINS), "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["datasets"][0]["num_rows"] == 344


def test_data_stats_errors_name_the_problem(csv: Path, tmp_path: Path) -> None:
    missing = _stats("nope.csv", cwd=tmp_path)
    assert missing.returncode == 2 and "nope.csv" in missing.stderr
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4,5\n")
    bad = _stats(str(ragged), cwd=tmp_path)
    assert bad.returncode == 1 and "ragged.csv" in bad.stderr
    usage = _stats(str(csv), "--weight", "nope", cwd=tmp_path)
    assert usage.returncode == 2 and "'nope'" in usage.stderr
