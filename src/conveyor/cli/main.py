"""``conveyor``: run, compile and plan pipelines; inspect runs, artifacts and lineage.

Exit codes: 0 success, 1 the run failed, 2 usage or definition error, 130 cancelled.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from conveyor.cli._common import (
    _console,
    _echo_json,
    _errors,
    _params,
    _settings,
    run_exit_code,
)
from conveyor.errors import ConfigError

if TYPE_CHECKING:
    from conveyor.orchestrator import RunResult


def _run_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse a run id that breaks the name rule before anything starts (it names folders)."""
    from conveyor._internal.names import name_problem

    problem = None if value is None else name_problem("run id", value)
    if problem is not None:
        raise click.BadParameter(problem, ctx=ctx, param=param)
    return value


_LAZY_COMMANDS = (
    "artifacts", "data", "deploy", "gc", "lineage", "models", "predict", "runs", "serve", "show",
    "smoke-test", "ui",
)  # fmt: skip
"""Commands whose modules load only when used: they import the data and model stacks, which
a plain ``conveyor run`` never needs (its start-up is most of a small run's time)."""


def _load_command(name: str) -> click.Command:
    if name in ("runs", "artifacts", "lineage"):
        from conveyor.cli import inspect
        from conveyor.cli.compare import compare
        from conveyor.cli.run_actions import ACTIONS

        inspect.runs.add_command(compare)
        for action in ACTIONS:
            inspect.runs.add_command(action)
        command: click.Command = getattr(inspect, name)
        return command
    if name == "predict":
        from conveyor.cli.predict import predict

        return predict
    if name == "show":
        from conveyor.cli.show import show

        return show
    if name == "models":
        from conveyor.cli.models import models

        return models
    if name == "serve":
        from conveyor.cli.serve import serve

        return serve
    if name == "deploy":
        from conveyor.cli.deploy import deploy

        return deploy
    if name == "ui":
        from conveyor.cli.ui import ui

        return ui
    if name == "gc":
        from conveyor.cli.gc import gc

        return gc
    if name == "smoke-test":
        from conveyor.cli.smoke import smoke_test

        return smoke_test
    from conveyor.cli.data import data
    from conveyor.cli.data_validate import (
        convert_schema_command,
        infer_schema_command,
        validate_command,
    )

    data.add_command(infer_schema_command)
    data.add_command(validate_command)
    data.add_command(convert_schema_command)
    return data


class _Commands(click.Group):
    """The top-level group: loads the commands of ``_LAZY_COMMANDS`` when first looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *_LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _LAZY_COMMANDS and cmd_name not in self.commands:
            self.add_command(_load_command(cmd_name))
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="conveyor-ml", prog_name="conveyor")
def cli() -> None:
    """Conveyor: ML pipelines from notebook to production.

    Settings come from CONVEYOR_HOME (default ./.conveyor), CONVEYOR_METADATA_URL,
    CONVEYOR_ARTIFACT_ROOT and an optional conveyor.toml.
    """
    from conveyor._internal.streams import pipe_safe

    # `conveyor run ... | head -1`: a reader that leaves early never fails a command
    sys.stdout = pipe_safe(sys.stdout)


param_option = click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="Pipeline parameter (repeatable); VALUE is parsed as JSON when it can be.",
)


def _result_json(result: RunResult) -> dict[str, Any]:
    """What ``run --json`` prints for one run (a sweep prints one per run)."""
    return {
        "run_id": result.run_id,
        "pipeline": result.pipeline,
        "state": result.state,
        "duration_seconds": result.duration_seconds,
        "tasks": {
            t: {
                "state": r.state.value,
                "execution_id": r.execution_id,
                "cached": r.cached,
                "duration_seconds": r.duration_seconds,
                "error": r.error,
                "outputs": {
                    "parameters": dict(r.outputs.parameters),
                    "artifacts": {
                        k: {"id": a.id, "uri": a.uri, "type": a.type_name}
                        for k, a in r.outputs.artifacts.items()
                    },
                },
            }
            for t, r in result.tasks.items()
        },
    }


@cli.command()
@click.argument("pipeline")
@param_option
@click.option(
    "--sweep",
    "sweeps",
    multiple=True,
    metavar="NAME=V1,V2,...",
    help="Run once per value (repeatable: every combination), all at once on one worker "
    "pool, sharing common steps, under one experiment; values are read like --param's.",
)
@click.option("--no-cache", is_flag=True, help="Run every step; reuse nothing.")
@click.option("--in-process", is_flag=True, help="Run steps one by one in this process.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (default: CONVEYOR_WORKERS or the CPU count).",
)
@click.option(
    "--run-id",
    default=None,
    callback=_run_id,
    help="Use this run id instead of a generated one (letters, digits, '_', '-', '.').",
)
@click.option(
    "--experiment",
    default=None,
    help="Group the run under an experiment (a sweep's default: <pipeline>-sweep-<UTC time>).",
)
@click.option("--quiet", "-q", is_flag=True, help="Do not stream step logs.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON only.")
@_errors
def run(
    pipeline: str,
    params: Sequence[str],
    sweeps: Sequence[str],
    no_cache: bool,
    in_process: bool,
    workers: int | None,
    run_id: str | None,
    experiment: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run PIPELINE (file.py, file.py:NAME, module:NAME or compiled .json) end to end."""
    from conveyor.cli.loading import load_pipeline
    from conveyor.orchestrator import RunReporter
    from conveyor.runner import local_orchestrator

    axes = None
    if sweeps:
        from conveyor.cli.sweep import parse_sweep_options

        if run_id is not None:
            raise click.UsageError(
                "--run-id names one run, but --sweep starts several. Drop --run-id: each "
                "run of the sweep gets a generated id, and --experiment names the group."
            )
        axes = parse_sweep_options(sweeps)
    settings = _settings()
    spec, root = load_pipeline(pipeline)
    fixed = _params(params)
    properties: dict[str, Any] = {
        "launcher": "agent" if os.environ.get("CONVEYOR_AGENT_CHILD") else "cli",
        # how to start this pipeline again (retry and clone from `conveyor runs` and the UI)
        "source": {"target": pipeline, "cwd": os.getcwd()},
    }
    reporter: RunReporter | None = None  # a sweep gives each of its runs a reporter of its own
    if axes is None and as_json:

        class _JsonReporter(RunReporter):
            def task_log(self, task: str, text: str) -> None:
                """Step output stays in the step logs: standard output is the JSON alone."""

        reporter = _JsonReporter()
    elif axes is None:
        from conveyor.cli.render import ConsoleReporter, run_console

        reporter = ConsoleReporter(run_console(), show_logs=not quiet)
    orch = local_orchestrator(
        settings,
        workers=workers,
        in_process=in_process,
        use_cache=not no_cache,
        reporter=reporter,
        search_root=root,
    )
    with orch:  # closes the metadata store (a warm agent serves many runs)
        if axes is not None:
            from conveyor.cli.sweep import (
                plan_sweep,
                print_sweep_result,
                run_sweep,
                sweep_exit_code,
            )

            sweep = plan_sweep(spec, axes, fixed, experiment=experiment)
            console = None if as_json else _console()
            results = run_sweep(
                orch, spec, sweep, properties=properties, console=console, show_logs=not quiet
            )
            if console is None:
                runs = [_result_json(r) for r in results]
                _echo_json({"experiment": sweep.experiment, "runs": runs})
            else:
                print_sweep_result(console, orch.metadata, sweep, results)
            sys.exit(sweep_exit_code(results))

        result = orch.run(spec, fixed, run_id=run_id, experiment=experiment, properties=properties)
        if as_json:
            _echo_json(_result_json(result))
        code = run_exit_code(result.state)
        sys.exit(code)


@cli.command(name="compile")
@click.argument("pipeline")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the IR here (default: standard output).",
)
@_errors
def compile_(pipeline: str, output: str | None) -> None:
    """Compile PIPELINE to its versioned, deterministic JSON IR."""
    from conveyor.cli.loading import load_pipeline
    from conveyor.ir.serialize import dumps

    spec, _ = load_pipeline(pipeline)
    text = dumps(spec)
    if output:
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
        _console(stderr=True).print(
            f"Wrote IR {spec.ir_version} of pipeline [bold]{spec.name}[/] "
            f"({len(spec.tasks)} tasks) to {output}"
        )
    else:
        click.echo(text, nl=False)


@cli.command()
@click.argument("pipeline")
@param_option
@click.option("--no-cache", is_flag=True, help="Plan as if the cache were off.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@_errors
def plan(pipeline: str, params: Sequence[str], no_cache: bool, as_json: bool) -> None:
    """Dry run: list which steps would come from the cache (hit) or run (miss), and why."""
    from conveyor.cli.loading import load_pipeline
    from conveyor.metadata import connect
    from conveyor.orchestrator import plan_run
    from conveyor.storage import open_store

    settings = _settings()
    spec, root = load_pipeline(pipeline)
    entries = plan_run(
        spec,
        _params(params),
        connect(settings.metadata_url),
        open_store(settings.artifact_root, scratch=os.path.join(settings.home, "tmp")),
        use_cache=not no_cache,
        search_root=root,
    )
    if as_json:
        _echo_json(
            [
                {
                    "task": e.task,
                    "decision": e.decision,
                    "reasons": e.reasons,
                    "cache_key": e.cache_key,
                    "cached_from": e.cached_from,
                }
                for e in entries
            ]
        )
        return
    from rich.table import Table

    table = Table(header_style="bold", box=None, pad_edge=False)
    table.add_column("step")
    table.add_column("decision")
    table.add_column("why", overflow="fold")
    style = {
        "hit": "cyan",
        "miss": "yellow",
        "disabled": "dim",
        "runs": "dim",
        "after-upstream": "yellow",
        "at-run-time": "magenta",
        "skipped": "dim",
    }
    for e in entries:
        table.add_row(e.task, f"[{style[e.decision]}]{e.decision}[/]", "\n".join(e.reasons))
    console = _console()
    console.print(table)
    hits = sum(e.decision == "hit" for e in entries)
    console.print(f"\n{hits} of {len(entries)} steps would come from the cache.")


@cli.group()
def agent() -> None:
    """The warm agent that starts `conveyor run` without interpreter start-up cost."""


@agent.command(name="status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_errors
def agent_status(as_json: bool) -> None:
    """List this user's agents (the current one serves this Python and installation)."""
    from conveyor.cli.agent import list_agents

    try:
        agents = list_agents()
    except PermissionError as exc:
        raise ConfigError(str(exc)) from None
    if as_json:
        _echo_json(agents)
        return
    if not agents:
        click.echo("No agent running. With CONVEYOR_AGENT=on, the next `conveyor run` starts one.")
    for a in agents:
        state = "alive" if a["alive"] else "dead"
        mark = " (current)" if a["current"] else ""
        click.echo(f"pid {a['pid']} {state}{mark}  {a['socket']}")


@agent.command(name="stop")
@_errors
def agent_stop() -> None:
    """Stop every agent of this user (runs in progress are not affected)."""
    import signal as _signal

    from conveyor.cli.agent import list_agents

    stopped = 0
    try:
        agents = list_agents()
    except PermissionError as exc:
        raise ConfigError(str(exc)) from None
    for a in agents:
        if a["alive"]:
            os.kill(a["pid"], _signal.SIGTERM)
            stopped += 1
    click.echo(f"Stopped {stopped} agent(s).")


@cli.command(name="exec", context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def exec_(args: Sequence[str]) -> None:
    """Run ONE task of a run: what remote runners call (same as python -m conveyor.execution).

    Options: --ir FILE --task NAME --run-id ID --metadata-url URL --artifact-root URL
    [--params-json JSON] [--experiment NAME] [--code-root DIR] [--no-cache].
    """
    from conveyor.execution.__main__ import main as exec_main

    sys.exit(exec_main(list(args)))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="conveyor")


if __name__ == "__main__":
    main()
