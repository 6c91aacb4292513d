"""``--sweep`` options: parsing, expansion into runs, checks before any run, the run lines."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import click
import pytest
from rich.console import Console

from conveyor import component, pipeline
from conveyor.cli.sweep import (
    SweepReporter,
    parse_sweep_options,
    plan_sweep,
    split_values,
    sweep_exit_code,
)
from conveyor.errors import DefinitionError
from conveyor.execution.results import TaskResult
from conveyor.execution.runs import open_run
from conveyor.metadata import MetadataStore, connect
from conveyor.metadata.entities import ExecutionState
from conveyor.orchestrator import RunResult
from conveyor.runner import MAX_COMBINATIONS, Sweep, default_experiment


@component
def fit(C: float = 1.0, depth: int = 3, kernel: str = "rbf", flag: bool = False) -> float:
    """Use every parameter type."""
    return C * depth


@pipeline(name="grid")
def grid(C: float = 1.0, depth: int = 3, kernel: str = "rbf", flag: bool = False) -> None:
    """One step taking the swept parameters."""
    fit(C=C, depth=depth, kernel=kernel, flag=flag)


SPEC = grid.spec


def _plan(*options: str, fixed: dict[str, object] | None = None, experiment: str = "e") -> Sweep:
    return plan_sweep(SPEC, parse_sweep_options(options), fixed or {}, experiment=experiment)


# --- parsing --------------------------------------------------------------------------------


def test_split_values_splits_only_at_commas_outside_json_brackets_and_strings() -> None:
    assert split_values("0.1, 1 ,10") == ["0.1", "1", "10"]
    assert split_values('[1,2],{"a":[3,4]},"x,y",z') == ["[1,2]", '{"a":[3,4]}', '"x,y"', "z"]
    assert split_values(r'"a\",b",c') == [r'"a\",b"', "c"]


def test_parse_sweep_options_reads_values_like_param_values() -> None:
    axes = parse_sweep_options(["C=0.1,1,10", "flag=true,false", "kernel=rbf,linear,[1,2]"])
    assert [a.name for a in axes] == ["C", "flag", "kernel"]
    assert axes[0].values == (0.1, 1, 10)
    assert axes[1].values == (True, False)
    assert axes[2].values == ("rbf", "linear", [1, 2])
    assert axes[2].texts == ("rbf", "linear", "[1,2]")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["C"], "--sweep takes NAME=V1,V2,..., got 'C'"),
        (["=1,2"], "--sweep takes NAME=V1,V2,..., got '=1,2'"),
        (["C="], "lists no values"),
        (["C= "], "lists no values"),
        (["C=1,,2"], "has an empty value (value 2)"),
        (["C=1,"], "has an empty value (value 2)"),
        (["C=1", "C=2"], "'C' is swept twice"),
    ],
)
def test_parse_sweep_options_rejects_a_malformed_option(options: list[str], message: str) -> None:
    with pytest.raises(click.BadParameter, match=re.escape(message)):
        parse_sweep_options(options)


# --- expansion ------------------------------------------------------------------------------


def test_plan_sweep_is_the_cartesian_product_in_the_order_given_with_fixed_params() -> None:
    sweep = _plan("depth=3,5", "C=0.1,1,10", fixed={"kernel": "linear"})
    assert sweep.names == ("depth", "C")
    assert [p.label for p in sweep.points] == [
        "depth=3 C=0.1",
        "depth=3 C=1",
        "depth=3 C=10",
        "depth=5 C=0.1",
        "depth=5 C=1",
        "depth=5 C=10",
    ]
    assert [p.index for p in sweep.points] == list(range(6))
    assert sweep.points[4].overrides == {"kernel": "linear", "depth": 5, "C": 1}


def test_plan_sweep_records_values_resolved_to_the_parameter_types() -> None:
    sweep = _plan("C=1,2.5", "kernel=7")
    first = sweep.points[0]
    assert first.values == {"C": 1.0, "kernel": "7"}
    assert isinstance(first.values["C"], float)
    assert sweep.properties(first) == {
        "experiment": "e",
        "index": 0,
        "of": 2,
        "values": {"C": 1.0, "kernel": "7"},
    }


def test_plan_sweep_names_its_experiment_after_the_pipeline_and_utc_time_by_default() -> None:
    sweep = plan_sweep(SPEC, parse_sweep_options(["C=1,2"]), {}, now=86400 * 365 + 3661)
    assert sweep.experiment == "grid-sweep-19710101-010101"
    assert re.fullmatch(r"grid-sweep-\d{8}-\d{6}", default_experiment("grid"))
    assert _plan("C=1", experiment="mine").experiment == "mine"


def test_plan_sweep_rejects_an_unknown_parameter_with_a_did_you_mean() -> None:
    with pytest.raises(click.BadParameter) as info:
        _plan("c=1,2")
    assert "'c' is not a parameter of pipeline 'grid'. Did you mean 'C'?" in info.value.message
    assert "Its parameters: C, depth, flag, kernel" in info.value.message
    with pytest.raises(click.BadParameter) as info:
        _plan("dpeth=1,2")
    assert "Did you mean 'depth'?" in info.value.message
    with pytest.raises(click.BadParameter) as info:
        _plan("zzz=1")
    assert "Did you mean" not in info.value.message


def test_plan_sweep_rejects_a_parameter_both_swept_and_fixed() -> None:
    with pytest.raises(click.BadParameter, match="'C' is both swept and fixed"):
        _plan("C=1,2", fixed={"C": 3})


def test_plan_sweep_rejects_more_combinations_than_the_limit_saying_how_many() -> None:
    depths = ",".join(str(n) for n in range(16))
    assert len(_plan(f"C={depths}", f"depth={depths}").points) == MAX_COMBINATIONS == 256
    with pytest.raises(click.BadParameter) as info:
        _plan(f"C={depths},99", f"depth={depths}")
    assert "272 combinations (C: 17 values, depth: 16 values)" in info.value.message
    assert "at most 256" in info.value.message


def test_plan_sweep_rejects_a_value_listed_twice_once_typed() -> None:
    with pytest.raises(click.BadParameter) as info:
        _plan("C=1,1.0")
    assert "'C' lists the same value twice ('1' and '1.0')" in info.value.message
    # JSON true and 1 are different texts for a string parameter: two runs
    assert [p.values["kernel"] for p in _plan("kernel=true,1").points] == ["True", "1"]


def test_plan_sweep_checks_every_value_type_before_any_run_naming_the_combination() -> None:
    with pytest.raises(DefinitionError) as info:
        _plan("depth=3,5", "C=0.1,high")
    message = str(info.value)
    assert message.startswith("Sweep run [depth=3 C=high]: ")
    assert "Parameter 'C' of pipeline 'grid' expects number, got 'high'" in message


# --- runs -----------------------------------------------------------------------------------


@pytest.fixture
def store() -> Iterator[MetadataStore]:
    metadata = connect("sqlite://")
    yield metadata
    metadata.close()


def test_sweep_reporter_prints_labelled_lines(store: MetadataStore) -> None:
    out = io.StringIO()
    reporter = SweepReporter("C=0.1 depth=3", console=Console(file=out))
    run = open_run(store, SPEC, run_id="r1", experiment="e")
    reporter.before_run(run, SPEC)
    reporter.task_log("fit", "epoch 1\nepoch")
    reporter.task_log("fit", " 2")
    reporter.after_task(TaskResult("fit", ExecutionState.COMPLETE, duration_seconds=0.521))
    reporter.after_task(TaskResult("prep", ExecutionState.CACHED, cached=True))
    failed = TaskResult("bad", ExecutionState.FAILED, error="ValueError: no\nmore", log_path="l")
    reporter.after_run(RunResult("r1", "grid", "FAILED", {"bad": failed}))

    assert out.getvalue().splitlines() == [
        "[C=0.1 depth=3] run r1",
        "[C=0.1 depth=3] fit │ epoch 1",
        "[C=0.1 depth=3] fit │ epoch 2",
        "[C=0.1 depth=3] ✓ complete fit 0.52s",
        "[C=0.1 depth=3] ↺ cached prep",
        "[C=0.1 depth=3] Step bad failed: ValueError: no",
        "[C=0.1 depth=3] log: l",
    ]


def test_sweep_reporter_without_console_prints_nothing(
    store: MetadataStore, capsys: pytest.CaptureFixture[str]
) -> None:
    reporter = SweepReporter("C=1", console=None)
    run = open_run(store, SPEC, run_id="r2")
    reporter.before_run(run, SPEC)
    reporter.after_task(TaskResult("fit", ExecutionState.COMPLETE))
    reporter.task_log("fit", "a line\n")
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("states", "code"),
    [
        (["COMPLETE", "COMPLETE"], 0),
        (["COMPLETE", "FAILED"], 1),
        (["CANCELED", "CANCELED"], 130),
        (["FAILED", "CANCELED"], 130),
    ],
)
def test_sweep_exit_code_is_130_when_cancelled_1_when_a_run_failed(
    states: list[str], code: int
) -> None:
    results = [RunResult(f"r{i}", "grid", state) for i, state in enumerate(states)]
    assert sweep_exit_code(results) == code
