"""``conveyor run --sweep``: parse and expand a sweep, run it, report its runs, print the result."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from conveyor.errors import SweepError
from conveyor.execution.params import parse_cli_value
from conveyor.orchestrator.reporter import RunReporter
from conveyor.runner import Sweep
from conveyor.runner import plan_sweep as core_plan_sweep
from conveyor.runner import run_sweep as core_run_sweep

if TYPE_CHECKING:
    from rich.console import Console

    from conveyor.execution.results import RunInfo, TaskResult
    from conveyor.ir.spec import PipelineSpec
    from conveyor.metadata import MetadataStore
    from conveyor.orchestrator.local import LocalOrchestrator, RunResult

__all__ = [
    "SweepAxis",
    "SweepReporter",
    "parse_sweep_options",
    "plan_sweep",
    "print_sweep_result",
    "run_sweep",
    "split_values",
    "sweep_exit_code",
]


_OPTION = "'--sweep'"


@dataclass(frozen=True)
class SweepAxis:
    """One ``--sweep NAME=V1,V2,...``: the parameter and its values, parsed and as typed."""

    name: str
    values: tuple[Any, ...]
    texts: tuple[str, ...]


def split_values(text: str) -> list[str]:
    """Split ``V1,V2,...`` at the commas outside JSON brackets and strings, stripping spaces.

    Example:
        >>> split_values('0.1, 1,[1,2],"a,b"')
        ['0.1', '1', '[1,2]', '"a,b"']
    """
    parts: list[str] = []
    depth, start = 0, 0
    in_string = escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def parse_sweep_options(options: Sequence[str]) -> list[SweepAxis]:
    """Parse the ``--sweep NAME=V1,V2,...`` options; values are read like ``--param`` values.

    Raises:
        click.BadParameter: a malformed option, an empty value list or value, or a name
            given twice.

    Example:
        >>> parse_sweep_options(["C=0.1,1", "kernel=rbf"])[0].values
        (0.1, 1)
    """
    axes: list[SweepAxis] = []
    for option in options:
        name, sep, rest = option.partition("=")
        name = name.strip()
        if not sep or not name:
            raise click.BadParameter(
                f"--sweep takes NAME=V1,V2,..., got {option!r}. Example: --sweep C=0.1,1,10",
                param_hint=_OPTION,
            )
        if any(axis.name == name for axis in axes):
            raise click.BadParameter(
                f"{name!r} is swept twice. List all its values in one option: "
                f"--sweep {name}=V1,V2,...",
                param_hint=_OPTION,
            )
        if not rest.strip():
            raise click.BadParameter(
                f"--sweep {option!r} lists no values. Give one or more: --sweep {name}=V1,V2",
                param_hint=_OPTION,
            )
        texts = split_values(rest)
        if "" in texts:
            raise click.BadParameter(
                f"--sweep {option!r} has an empty value (value {texts.index('') + 1}). Remove "
                "the extra comma; write an empty string as '\"\"'",
                param_hint=_OPTION,
            )
        values = [parse_cli_value(text) for text in texts]
        axes.append(SweepAxis(name, tuple(values), tuple(texts)))
    return axes


def plan_sweep(
    spec: PipelineSpec,
    axes: Sequence[SweepAxis],
    fixed: Mapping[str, Any],
    *,
    experiment: str | None = None,
    now: float | None = None,
) -> Sweep:
    """The sweep of the parsed ``--sweep`` options (see :func:`conveyor.runner.plan_sweep`),
    labelled with the values as typed.

    Raises:
        click.BadParameter: the sweep cannot run (a :class:`~conveyor.errors.SweepError`):
            exit code 2 with the option named.
        DefinitionError: a value does not fit its parameter's type.
    """
    try:
        return core_plan_sweep(
            spec,
            {axis.name: axis.values for axis in axes},
            fixed,
            experiment=experiment,
            labels={axis.name: axis.texts for axis in axes},
            now=now,
        )
    except SweepError as exc:
        raise click.BadParameter(str(exc), param_hint=_OPTION) from None


class SweepReporter(RunReporter):
    """Reports one run of a sweep as plain lines prefixed with its label (runs interleave, so
    there is no live table).

    ``console=None`` prints nothing (``--json``).
    """

    def __init__(
        self, label: str, *, console: Console | None = None, show_logs: bool = True
    ) -> None:
        self.label = label
        self.console = console
        self.show_logs = show_logs
        self._partial: dict[str, str] = {}

    def before_run(self, run: RunInfo, spec: PipelineSpec) -> None:
        """Print the run's id."""
        self._line(f"run {run.run_id}")

    def after_task(self, result: TaskResult) -> None:
        """One line per finished step: ``[C=0.1 depth=3] ✓ complete train 0.52s``."""
        from rich.text import Text

        from conveyor.cli.render import state_text

        self._flush_partial(result.task)
        took = f" {result.duration_seconds:.2f}s" if result.duration_seconds else ""
        self._line(Text.assemble(state_text(result.state.value), f" {result.task}{took}"))

    def task_log(self, task: str, text: str) -> None:
        """Print complete log lines of a step: ``[C=0.1 depth=3] train │ line``."""
        if not self.show_logs:
            return
        *lines, self._partial[task] = (self._partial.get(task, "") + text).split("\n")
        for line in lines:
            self._line(f"{task} │ {line}")

    def _flush_partial(self, task: str) -> None:
        rest = self._partial.pop(task, "")
        if rest and self.show_logs:
            self._line(f"{task} │ {rest}")

    def after_run(self, result: RunResult) -> None:
        """Name each failed step with its error and log (the table at the end has the rest)."""
        for task in list(self._partial):
            self._flush_partial(task)
        for task in result.failed_tasks:
            r = result.tasks[task]
            error = (r.error or "").strip().splitlines()
            self._line(f"Step {task} failed: {error[0] if error else ''}", style="red")
            if r.log_path:
                self._line(f"log: {r.log_path}", style="dim")

    def _line(self, body: Any, style: str = "") -> None:
        if self.console is None:
            return
        from rich.text import Text

        text = Text.assemble((f"[{self.label}] ", "dim"), body, style=style)
        if self.console.is_terminal:
            self.console.print(text, highlight=False, soft_wrap=True)
        else:  # a file, a pipe, CI: plain lines, no styling
            self.console.file.write(text.plain + "\n")


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def run_sweep(
    orch: LocalOrchestrator,
    spec: PipelineSpec,
    sweep: Sweep,
    *,
    properties: Mapping[str, Any],
    console: Console | None,
    show_logs: bool = True,
) -> list[RunResult]:
    """Run every combination of ``sweep`` at once on the orchestrator's worker pool, each
    reported on its own labelled lines. ``console=None`` prints nothing."""
    if console is not None:
        console.file.write(
            f"Sweep {sweep.experiment}: {_runs(len(sweep.points))} of pipeline {spec.name} "
            f"({', '.join(sweep.names)})\n"
        )
    reporters = [SweepReporter(p.label, console=console, show_logs=show_logs) for p in sweep.points]
    return core_run_sweep(orch, spec, sweep, properties=properties, reporters=reporters)


def sweep_exit_code(results: Sequence[RunResult]) -> int:
    """130 if the sweep was cancelled, 1 if any run failed, else 0."""
    from conveyor.cli._common import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK

    if any(r.state == "CANCELED" for r in results):
        return EXIT_CANCELLED
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def print_sweep_result(
    console: Console, metadata: MetadataStore, sweep: Sweep, results: Sequence[RunResult]
) -> None:
    """The comparison table of the sweep's runs, the count of runs by state, and how to see
    the table again."""
    from rich.text import Text

    from conveyor.cli.compare import compare_contexts, print_wide, run_table
    from conveyor.metadata.store import CONTEXT_RUN

    contexts = []
    for r in results:
        ctx = (
            metadata.get_context(r.run_context_id)
            if r.run_context_id is not None
            else metadata.find_context(CONTEXT_RUN, r.run_id)
        )
        if ctx is not None:
            contexts.append(ctx)
    console.print()
    print_wide(console, run_table(compare_contexts(metadata, contexts), leading=sweep.names))
    counts: dict[str, int] = {}
    for r in results:
        counts[r.state.lower()] = counts.get(r.state.lower(), 0) + 1
    by_state = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    console.print(
        Text(f"\nSweep {sweep.experiment}: {_runs(len(results))}, {by_state}"), highlight=False
    )
    console.print(
        Text(f"See it again: conveyor runs compare --experiment {shlex.quote(sweep.experiment)}"),
        highlight=False,
    )
