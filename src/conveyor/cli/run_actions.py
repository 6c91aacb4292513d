"""``conveyor runs retry|clone|terminate|archive|restore|delete``: what can be done to a run
after it ran (the same actions as the UI's, through :mod:`conveyor.operations`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from conveyor.cli._common import (
    EXIT_FAILED,
    _console,
    _echo_json,
    _errors,
    _params,
    _settings,
    run_exit_code,
)

__all__ = ["ACTIONS"]

_json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def _stores() -> tuple[Any, Any, Any]:
    from conveyor.metadata import connect
    from conveyor.storage import open_store

    settings = _settings()
    storage = open_store(settings.artifact_root, scratch=os.path.join(settings.home, "tmp"))
    return settings, connect(settings.metadata_url), storage


def _report(result: dict[str, Any], as_json: bool, text: str) -> None:
    if as_json:
        _echo_json(result)
    else:
        click.echo(text)


@click.command(name="archive")
@click.argument("run_id")
@_json_option
@_errors
def archive(run_id: str, as_json: bool) -> None:
    """Archive RUN_ID: hidden from the default lists, everything kept (restore undoes it)."""
    from conveyor.operations import archive_run

    _, metadata, _ = _stores()
    result = archive_run(metadata, run_id)
    _report(result, as_json, f"Archived run {run_id}.")


@click.command(name="restore")
@click.argument("run_id")
@_json_option
@_errors
def restore(run_id: str, as_json: bool) -> None:
    """Bring an archived or deleted RUN_ID back to the lists."""
    from conveyor.operations import restore_run

    _, metadata, _ = _stores()
    result = restore_run(metadata, run_id)
    _report(result, as_json, f"Restored run {run_id}.")


@click.command(name="delete")
@click.argument("run_id")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@_json_option
@_errors
def delete(run_id: str, yes: bool, as_json: bool) -> None:
    """Delete RUN_ID: listed nowhere, its artifacts garbage for `conveyor gc`.

    First prints what `conveyor gc` would then free (artifacts and bytes), and asks.
    """
    from conveyor.operations import delete_run, find_run, plan_gc
    from conveyor.operations.runs import RUNNING

    settings, metadata, storage = _stores()
    if find_run(metadata, run_id).properties.get("state") == RUNNING:
        delete_run(metadata, run_id)  # raises the conflict with its fix
    plan = plan_gc(metadata, storage, home=settings.home, only_runs=[run_id])
    if not as_json:
        _print_plan(plan, f"Deleting run {run_id} lets conveyor gc free")
    if not yes and not as_json and not click.confirm(f"Delete run {run_id}?", default=False):
        click.echo("Nothing deleted.")
        sys.exit(EXIT_FAILED)
    if as_json and not yes:
        raise click.UsageError("--json prints no question: add --yes to delete")
    result = delete_run(metadata, run_id)
    _report({**result, "frees": plan.as_dict()}, as_json, f"Deleted run {run_id}.")


def _print_plan(plan: Any, title: str) -> None:
    from rich.table import Table

    from conveyor.cli.gc import human_bytes

    console = _console()
    table = Table(header_style="bold", box=None, pad_edge=False)
    for column in ("artifact", "type", "run", "bytes", "uri"):
        table.add_column(column, overflow="fold")
    for a in plan.artifacts:
        table.add_row(str(a.id), a.type, a.run_id, human_bytes(a.bytes), a.uri)
    for g in plan.logs:
        table.add_row("logs", "", g.run_id, human_bytes(g.bytes), g.path)
    console.print(
        f"{title}: {len(plan.artifacts)} artifact(s), {human_bytes(plan.total_bytes)}"
        + (f" ({plan.kept} kept: still needed)" if plan.kept else "")
    )
    if plan.artifacts or plan.logs:
        console.print(table)


@click.command(name="terminate")
@click.argument("run_id")
@click.option(
    "--wait", "wait_seconds", type=click.FloatRange(min=0), default=10.0, show_default=True,
    help="Seconds to wait for the run to leave RUNNING.",
)  # fmt: skip
@_json_option
@_errors
def terminate(run_id: str, wait_seconds: float, as_json: bool) -> None:
    """Stop a RUNNING RUN_ID: its steps are stopped, exit handlers run, it ends CANCELED."""
    from conveyor.operations import terminate_run

    _, metadata, storage = _stores()
    result = terminate_run(
        metadata, run_id, wait_seconds=wait_seconds, open_storage=lambda: storage
    )
    _report(result, as_json, f"Run {run_id} is {result['state']}.")


def _detach(plan: Any, settings: Any, metadata: Any, as_json: bool) -> None:
    from conveyor.operations import launch, launch_environment, wait_started

    env = launch_environment(os.environ, (), settings.home)
    proc = launch(plan, home=settings.home, env=env)
    started = wait_started(metadata, plan, proc, home=settings.home)
    log = os.path.join(os.path.abspath(settings.home), "launches", f"{plan.run_id}.log")
    result = {"run_id": plan.run_id, "pid": proc.pid, "started": started, "log": log}
    _report(result, as_json, f"Started run {plan.run_id} (pid {proc.pid}); output: {log}")


@click.command(name="retry")
@click.argument("run_id")
@click.option("--detach", is_flag=True, help="Start it in the background and return.")
@click.option("--quiet", "-q", is_flag=True, help="Do not stream step logs.")
@_json_option
@_errors
def retry(run_id: str, detach: bool, quiet: bool, as_json: bool) -> None:
    """Retry a FAILED or CANCELED RUN_ID in place: only what did not succeed runs again.

    The pipeline is loaded from where `conveyor run` started it (the run's source); its IR
    must still be the run's (else clone it). Exit code as `conveyor run`'s.
    """
    from conveyor.operations import check_retry_spec, retry_plan

    settings, metadata, _ = _stores()
    plan = retry_plan(metadata, run_id)
    if detach:
        _detach(plan, settings, metadata, as_json)
        return
    from conveyor.cli.loading import load_pipeline
    from conveyor.orchestrator import RunReporter
    from conveyor.runner import local_orchestrator

    home = os.path.abspath(settings.home)
    os.chdir(plan.cwd)
    settings = _settings(home)
    spec, root = load_pipeline(plan.target)
    check_retry_spec(metadata, run_id, spec)
    reporter: RunReporter
    if as_json:
        reporter = RunReporter()
    else:
        from conveyor.cli.render import ConsoleReporter, run_console

        reporter = ConsoleReporter(run_console(), show_logs=not quiet)
    with local_orchestrator(settings, reporter=reporter, search_root=root) as orch:
        result = orch.run(
            spec, plan.parameters, run_id=run_id, experiment=plan.experiment, resume=True
        )
    if as_json:
        from conveyor.cli.main import _result_json

        _echo_json(_result_json(result))
    code = run_exit_code(result.state)
    sys.exit(code)


@click.command(name="clone")
@click.argument("run_id")
@click.option(
    "--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
    help="Change a parameter (repeatable); VALUE is parsed as JSON when it can be.",
)  # fmt: skip
@click.option("--experiment", default=None, help="The new run's experiment (default: RUN_ID's).")
@click.option("--run-id", "new_id", default=None, help="The new run's id (default: generated).")
@click.option("--detach", is_flag=True, help="Start it in the background and return.")
@_json_option
@_errors
def clone(
    run_id: str,
    params: Sequence[str],
    experiment: str | None,
    new_id: str | None,
    detach: bool,
    as_json: bool,
) -> None:
    """Start a new run of RUN_ID's pipeline with its parameters and the changes given.

    Each changed value is checked against the pipeline's parameter types first.
    """
    import subprocess

    from conveyor.operations import clone_plan

    settings, metadata, _ = _stores()
    plan = clone_plan(metadata, run_id, _params(params), experiment=experiment, new_id=new_id)
    if detach:
        _detach(plan, settings, metadata, as_json)
        return
    argv = [a for a in plan.argv if a != "--quiet"]
    if as_json:
        argv.append("--json")
    env = {**os.environ, "CONVEYOR_HOME": os.path.abspath(settings.home)}
    sys.exit(subprocess.call(argv, cwd=plan.cwd, env=env))


ACTIONS: tuple[click.Command, ...] = (retry, clone, terminate, archive, restore, delete)
"""The action commands, added to the ``conveyor runs`` group."""
