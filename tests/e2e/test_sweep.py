"""``conveyor run --sweep``: every combination at once, shared upstream steps computed once,
one experiment, and ``runs compare --experiment`` showing the sweep again."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conveyor.metadata import connect
from conveyor.metadata.store import CONTEXT_RUN

pytestmark = pytest.mark.slow

Cli = Callable[..., subprocess.CompletedProcess[str]]


def as_json(proc: subprocess.CompletedProcess[str]) -> Any:
    """A command's JSON output (defined here, not imported from ``conftest``: run together
    with ``tests/unit``, whose folders hold ``conftest`` modules too, that import can find
    the wrong one)."""
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as exc:  # pragma: no cover - diagnostic
        raise AssertionError(f"not JSON: {proc.stdout!r}\nstderr: {proc.stderr}") from exc


PIPELINE = '''
"""ingest (no swept parameter: shared by every run) -> train (swept)."""

import time
from pathlib import Path

from conveyor import Dataset, Input, Metrics, Output, component, pipeline

EXECUTIONS = Path(__file__).with_name("ingest-executions.txt")


@component
def ingest(data: Output[Dataset]) -> None:
    """Count this execution, then take long enough that the runs overlap."""
    with open(EXECUTIONS, "a") as fh:
        fh.write("ran\\n")
    time.sleep(0.5)
    with open(data.path, "w") as fh:
        fh.write("1 2 3 4")


@component
def train(data: Input[Dataset], metrics: Output[Metrics], C: float = 1.0, depth: int = 3) -> float:
    """A score from the parameters and the data; fails for a negative C."""
    if C < 0:
        raise ValueError(f"C must be positive, got {C}")
    with open(data.path) as fh:
        rows = len(fh.read().split())
    score = C * depth + rows
    metrics.log_metric("score", score)
    return score


@pipeline(name="sweepdemo")
def sweepdemo(C: float = 1.0, depth: int = 3):
    """ingest -> train."""
    raw = ingest()
    train(data=raw.outputs["data"], C=C, depth=depth)
'''


@pytest.fixture
def demo(project: Path) -> Path:
    """The sweep pipeline in the project folder; returns the file counting ingest's runs."""
    (project / "sweepdemo.py").write_text(PIPELINE, encoding="utf-8")
    return project / "ingest-executions.txt"


def test_sweep_runs_each_combination_once_sharing_the_upstream_step(
    cli: Cli, project: Path, demo: Path
) -> None:
    proc = cli(
        "run", "sweepdemo.py", "--sweep", "C=0.5,2", "--sweep", "depth=3,5",
        "--experiment", "grid", "--workers", "4", "-q",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    labels = ["C=0.5 depth=3", "C=0.5 depth=5", "C=2 depth=3", "C=2 depth=5"]
    for label in labels:
        assert re.search(rf"^\[{label}\] ✓ complete train \d+\.\d\ds$", out, re.MULTILINE), out
    # four runs at once, yet ingest ran once: the three others waited and took it from the cache
    assert demo.read_text().splitlines() == ["ran"]
    assert len(re.findall(r"^\[[^]]+\] ✓ complete ingest", out, re.MULTILINE)) == 1
    assert len(re.findall(r"^\[[^]]+\] ↺ cached ingest$", out, re.MULTILINE)) == 3
    assert "Sweep grid: 4 runs of pipeline sweepdemo (C, depth)" in out
    assert "Sweep grid: 4 runs, 4 complete" in out
    assert "See it again: conveyor runs compare --experiment grid" in out

    # every run is under the experiment and records which combination it is
    store = connect(f"sqlite:///{project / '.conveyor' / 'metadata.db'}")
    try:
        runs = sorted(store.list_contexts(CONTEXT_RUN), key=lambda c: c.id)
        assert [r.properties["experiment"] for r in runs] == ["grid"] * 4
        assert {r.properties["launcher"] for r in runs} <= {"cli", "agent"}
        assert [r.properties["sweep"] for r in runs] == [
            {"experiment": "grid", "index": i, "of": 4, "values": {"C": c, "depth": d}}
            for i, (c, d) in enumerate([(0.5, 3), (0.5, 5), (2.0, 3), (2.0, 5)])
        ]
        run_ids = [r.name for r in runs]
    finally:
        store.close()

    # the final table, and the same one later from runs compare --experiment
    table = out[out.index("\nrun ") :].splitlines()[1:6]
    again = cli("runs", "compare", "--experiment", "grid")
    assert again.returncode == 0, again.stderr
    for lines in (table, again.stdout.splitlines()):
        assert lines[0].split() == ["run", "C", "depth", "state", "time", "train.metrics.score"]
        rows = [line.split() for line in lines[1:5]]
        assert [r[0] for r in rows] == run_ids
        assert [(r[1], r[2], r[3], r[5]) for r in rows] == [
            ("0.5", "3", "COMPLETE", "5.5"),
            ("0.5", "5", "COMPLETE", "6.5"),
            ("2", "3", "COMPLETE", "10"),
            ("2", "5", "COMPLETE", "14"),
        ]
    data = as_json(cli("runs", "compare", "--experiment", "grid", "--json"))
    assert data["experiment"] == "grid" and data["runs"] == run_ids
    values = {(r["section"], r["name"]): r["values"] for r in data["rows"]}
    assert values[("parameter", "C")] == [0.5, 0.5, 2.0, 2.0]
    assert values[("parameter", "depth")] == [3, 5, 3, 5]
    assert values[("metric", "train.metrics.score")] == [5.5, 6.5, 10.0, 14.0]

    unknown = cli("runs", "compare", "--experiment", "gird")
    assert unknown.returncode == 2
    assert "No experiment 'gird'. Did you mean 'grid'?" in unknown.stderr
    assert "Known experiments, newest first: grid" in unknown.stderr

    listed = as_json(cli("runs", "list", "--experiment", "grid", "--json"))
    assert [r["run_id"] for r in listed] == run_ids[::-1]  # newest first
    assert {r["experiment"] for r in listed} == {"grid"}
    table = cli("runs", "list", "--experiment", "grid", "-n", "2").stdout.splitlines()
    assert table[0].split()[:3] == ["run", "pipeline", "experiment"]
    assert [line.split()[0] for line in table[1:]] == run_ids[:1:-1]
    assert cli("runs", "list", "--experiment", "gird").returncode == 2


def test_sweep_json_lists_each_run_as_run_json_does_and_exits_1_if_a_run_failed(
    cli: Cli, demo: Path
) -> None:
    proc = cli("run", "sweepdemo.py", "--sweep", "C=-1,1", "--param", "depth=2", "--json")
    assert proc.returncode == 1, proc.stderr
    data = as_json(proc)
    assert set(data) == {"experiment", "runs"}
    assert re.fullmatch(r"sweepdemo-sweep-\d{8}-\d{6}", data["experiment"])
    single = as_json(cli("run", "sweepdemo.py", "--param", "C=3", "--json"))
    failed, ok = data["runs"]
    for run in (failed, ok):
        assert set(run) == set(single)
        assert set(run["tasks"]["train"]) == set(single["tasks"]["train"])
    assert (failed["state"], ok["state"]) == ("FAILED", "COMPLETE")
    assert "C must be positive, got -1.0" in failed["tasks"]["train"]["error"]
    assert ok["tasks"]["train"]["outputs"]["parameters"] == {"Output": 6.0}  # C=1 depth=2 + 4
    assert sorted(r["tasks"]["ingest"]["cached"] for r in data["runs"]) == [False, True]
    assert single["tasks"]["ingest"]["cached"] is True


TOO_MANY = ["--sweep", "C=" + ",".join(map(str, range(17)))]
TOO_MANY += ["--sweep", "depth=" + ",".join(map(str, range(16)))]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sweep", "c=1,2"], "'c' is not a parameter of pipeline 'sweepdemo'. Did you mean 'C'?"),
        (["--sweep", "C=1,2", "--param", "C=3"], "'C' is both swept and fixed"),
        (["--sweep", "C="], "lists no values"),
        (["--sweep", "C=1", "--sweep", "C=2"], "'C' is swept twice"),
        (["--sweep", "C=1,2", "--run-id", "mine"], "--run-id names one run, but --sweep"),
        (TOO_MANY, "the sweep makes 272 combinations (C: 17 values, depth: 16 values)"),
        (["--sweep", "C=1,high"], "Sweep run [C=high]: Parameter 'C' of pipeline 'sweepdemo'"),
    ],
)
def test_sweep_usage_errors_exit_2_before_any_run(
    cli: Cli, project: Path, demo: Path, args: list[str], message: str
) -> None:
    proc = cli("run", "sweepdemo.py", *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in " ".join(proc.stderr.split())
    assert not demo.exists()
    assert (
        not (project / ".conveyor" / "metadata.db").exists()
        or as_json(cli("runs", "list", "--json")) == []
    )
