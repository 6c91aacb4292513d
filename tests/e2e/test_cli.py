"""The conveyor command: run, compile, plan, runs, artifacts, lineage, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_output import as_json

pytestmark = pytest.mark.slow


def test_run_shows_run_id_steps_and_artifact_locations(cli, project):
    proc = cli("run", "basic.py:demo", "--param", "C=0.5")
    assert proc.returncode == 0, proc.stderr
    assert "Run demo-" in proc.stdout
    for task in ("ingest", "prepare", "train"):
        assert task in proc.stdout
    assert "ingested 11 chars" in proc.stdout  # the step's log, streamed
    assert ".conveyor/artifacts/demo/demo-" in proc.stdout.replace("\n", "")
    assert "complete" in proc.stdout


def test_run_json_and_exit_code_of_a_failed_run(cli):
    proc = cli("run", "basic.py:branches", "--json")
    assert proc.returncode == 1
    data = as_json(proc)
    assert data["state"] == "FAILED"
    assert data["tasks"]["maybe_fail"]["state"] == "FAILED"
    assert "asked to fail" in data["tasks"]["maybe_fail"]["error"]


def test_failed_run_names_the_step_error_and_log(cli):
    proc = cli("run", "basic.py:bad_raises")
    assert proc.returncode == 1
    assert "Step raises failed" in proc.stdout
    assert "boom in user code" in proc.stdout
    assert "raises.log" in proc.stdout.replace("\n", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.py"], "No such pipeline file"),
        (["run", "basic.py"], "defines several pipelines"),
        (["run", "basic.py:nope"], "No pipeline 'nope'"),
        (["run", "basic.py:demo", "--param", "C=high"], "expects number"),
        (["run", "basic.py:demo", "--param", "D=1"], "has no parameter"),
        (["run", "basic.py:demo", "--param", "C"], "NAME=VALUE"),
        (["runs", "show", "no-such-run"], "No run 'no-such-run'"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(cli, args, message):
    proc = cli(*args)
    assert proc.returncode == 2
    assert message in proc.stderr.replace("\n", " ")


def test_compile_is_byte_identical_and_runnable(cli, project):
    assert cli("compile", "basic.py:demo", "-o", "a.json").returncode == 0
    assert cli("compile", "basic.py:demo", "-o", "b.json").returncode == 0
    a, b = (project / "a.json").read_bytes(), (project / "b.json").read_bytes()
    assert a == b
    assert json.loads(a)["ir_version"] == "1.1"
    proc = cli("run", "a.json", "--json")
    assert proc.returncode == 0, proc.stderr
    assert as_json(proc)["state"] == "COMPLETE"


def test_plan_explains_an_edited_helper_module(cli, project):
    assert cli("run", "basic.py:demo").returncode == 0
    plan = as_json(cli("plan", "basic.py:demo", "--json"))
    assert [p["decision"] for p in plan] == ["hit", "hit", "hit"]
    helpers = project / "helpers.py"
    helpers.write_text(helpers.read_text().replace("text.upper()", "text.upper() + '.'"))
    plan = {p["task"]: p for p in as_json(cli("plan", "basic.py:demo", "--json"))}
    assert plan["ingest"]["decision"] == "hit"
    assert plan["prepare"]["decision"] == "miss"
    assert "code: file helpers.py changed" in plan["prepare"]["reasons"]
    assert plan["train"]["decision"] == "after-upstream"
    proc = as_json(cli("run", "basic.py:demo", "--json"))
    assert {t: v["state"] for t, v in proc["tasks"].items()} == {
        "ingest": "CACHED",
        "prepare": "COMPLETE",
        "train": "COMPLETE",
    }


def test_runs_list_show_artifacts_and_lineage(cli):
    run = as_json(cli("run", "basic.py:demo", "--json"))
    runs = as_json(cli("runs", "list", "--json"))
    assert runs[0]["run_id"] == run["run_id"] and runs[0]["state"] == "COMPLETE"
    shown = as_json(cli("runs", "show", run["run_id"], "--json"))
    assert [s["task"] for s in shown["steps"]] == ["ingest", "prepare", "train"]
    model_id = run["tasks"]["train"]["outputs"]["artifacts"]["model"]["id"]
    art = as_json(cli("artifacts", "show", str(model_id), "--json"))
    assert art["produced_by"][0]["task"] == "train"
    assert art["state"] == "LIVE" and art["fingerprint"].startswith("sha256:")
    lineage = as_json(cli("lineage", str(model_id), "--json"))
    assert {e["task"] for e in lineage["executions"]} == {"ingest", "prepare", "train"}
    for command in (
        ["runs", "list"],
        ["runs", "show", run["run_id"]],
        ["artifacts", "show", str(model_id)],
        ["lineage", str(model_id)],
    ):
        proc = cli(*command)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip()
    assert "train" in cli("lineage", str(model_id)).stdout


def test_execution_entrypoint_runs_one_task_at_a_time(cli, project, tmp_path):
    """What a remote runner does: each task in its own process, inputs from metadata."""
    assert cli("compile", "basic.py:demo", "-o", "demo.json").returncode == 0
    home = project / ".conveyor"
    common = [
        "--ir",
        str(project / "demo.json"),
        "--run-id",
        "remote-1",
        "--metadata-url",
        f"sqlite:///{home}/metadata.db",
        "--artifact-root",
        str(home / "artifacts"),
        "--params-json",
        json.dumps({"text": "remote"}),
    ]
    for task in ("ingest", "prepare", "train"):
        proc = cli("exec", "--task", task, *common, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout.strip().splitlines()[-1])["state"] == "COMPLETE"
    shown = as_json(cli("runs", "show", "remote-1", "--json"))
    assert shown["properties"]["state"] == "COMPLETE"  # derived from the tasks' executions
    assert shown["properties"]["launcher"] == "exec"
    assert {s["task"]: s["state"] for s in shown["steps"]} == {
        "ingest": "COMPLETE",
        "prepare": "COMPLETE",
        "train": "COMPLETE",
    }
    clean = next(s for s in shown["steps"] if s["task"] == "prepare")["outputs"]["clean"]
    assert Path(clean["uri"]).read_text() == "REMOTE"
    again = cli("exec", "--task", "prepare", *common, cwd=tmp_path)
    assert json.loads(again.stdout.strip().splitlines()[-1])["cached"] is True


def test_every_command_has_help(cli):
    for command in (
        ["run"],
        ["compile"],
        ["plan"],
        ["runs", "list"],
        ["runs", "show"],
        ["artifacts", "show"],
        ["lineage"],
        ["agent", "status"],
    ):
        proc = cli(*command, "--help")
        assert proc.returncode == 0
        assert "Usage:" in proc.stdout
    exec_help = cli("exec", "--help")  # the entrypoint's own options, not click's wrapper
    assert exec_help.returncode == 0
    assert "--metadata-url" in exec_help.stdout and "--run-id" in exec_help.stdout


def test_json_output_stays_pure_when_steps_print_in_process(cli):
    proc = cli("run", "basic.py:demo", "--json", "--in-process")
    assert proc.returncode == 0, proc.stderr
    data = as_json(proc)  # the step's "ingested 11 chars" went to its log, not to stdout
    assert data["tasks"]["ingest"]["duration_seconds"] >= 0
