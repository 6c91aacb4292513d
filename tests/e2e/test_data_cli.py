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


ADULT_ROWS = "39, State-gov, <=50K\n50, ?, <=50K\n38, Private, >50K\n"


def test_data_stats_reads_a_headerless_file_with_the_csv_options(tmp_path: Path) -> None:
    (tmp_path / "adult.data").write_text(ADULT_ROWS)
    plain = _stats("adult.data", cwd=tmp_path)
    assert plain.returncode == 2 and "--format" in plain.stderr
    guessed = _stats("adult.data", "--format", "csv", "--json", cwd=tmp_path)
    assert guessed.returncode == 0, guessed.stderr
    assert "warning:" in guessed.stderr and "looks like data" in guessed.stderr
    out = _stats(
        "adult.data",
        *("--format", "csv", "--no-header", "--column-names", "age,workclass,income"),
        *("--delimiter", ", ", "--null-value", "?", "--json"),
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "warning" not in out.stderr
    stats = StatisticsCollection.from_dict(json.loads(out.stdout)).datasets[0]
    assert stats.num_rows == 3
    age, workclass = stats.feature("age"), stats.feature("workclass")
    assert age is not None and age.type.value == "INT"
    assert workclass is not None and workclass.missing == 1


def test_data_stats_bad_files_print_the_message_alone(tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes("name\nAnn\nJos\xe9\n".encode("latin-1"))
    (tmp_path / "blob.csv").write_bytes(b"a,b\n\x00\x01\x02garbage\xff\n")
    latin = _stats("latin.csv", cwd=tmp_path)
    assert latin.returncode == 1
    assert "latin.csv: line 3:" in latin.stderr and "--encoding latin-1" in latin.stderr
    blob = _stats("blob.csv", cwd=tmp_path)
    assert blob.returncode == 1 and "blob.csv: line 2 (byte 4)" in blob.stderr
    for out in (latin, blob):
        assert "Traceback" not in out.stderr
    fixed = _stats("latin.csv", "--encoding", "latin-1", "--json", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    name = StatisticsCollection.from_dict(json.loads(fixed.stdout)).datasets[0].feature("name")
    assert name is not None and name.string is not None
    assert {v.value for v in name.string.top_values} == {"Ann", "José"}
