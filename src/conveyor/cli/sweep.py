"""``conveyor run --sweep``: parse and expand a sweep, run it, report its runs, print the result."""

from __future__ import annotations

import difflib
import itertools
import json
import math
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from conveyor.errors import DefinitionError
from conveyor.execution.params import parse_cli_value, resolve_parameters
from conveyor.orchestrator.reporter import RunReporter

if TYPE_CHECKING:
    from rich.console import Console

    from conveyor.execution.results import RunInfo, TaskResult
    from conveyor.ir.spec import PipelineSpec
    from conveyor.metadata import MetadataStore
    from conveyor.orchestrator.local import LocalOrchestrator, RunResult

__all__ = [
    "MAX_COMBINATIONS",
    "Sweep",
    "SweepAxis",
    "SweepPoint",
    "SweepReporter",
    "default_experiment",
    "parse_sweep_options",
    "plan_sweep",
    "print_sweep_result",
    "run_sweep",
    "split_values",
    "sweep_exit_code",
]

MAX_COMBINATIONS = 256
"""The most runs one sweep may start: each holds its run loop and metadata in this process."""

_OPTION = "'--sweep'"


@dataclass(frozen=True)
class SweepAxis:
    """One ``--sweep NAME=V1,V2,...``: the parameter and its values, parsed and as typed."""

    name: str
    values: tuple[Any, ...]
    texts: tuple[str, ...]


@dataclass(frozen=True)
class SweepPoint:
    """One combination of a sweep: one run."""

    index: int
    overrides: Mapping[str, Any]
    """The parameters handed to the run: the fixed ``--param`` values and this combination's."""
    values: Mapping[str, Any]
    """The swept parameters' values, resolved to their declared types (``1`` -> ``1.0``)."""
    label: str
    """The combination as the user typed it, e.g. ``C=0.1 depth=3``."""


@dataclass(frozen=True)
class Sweep:
    """A planned sweep: its experiment and every combination, in order."""

    experiment: str
    axes: tuple[SweepAxis, ...]
    points: tuple[SweepPoint, ...]

    @property
    def names(self) -> list[str]:
        """The swept parameters, in the order given."""
        return [axis.name for axis in self.axes]

    def properties(self, point: SweepPoint) -> dict[str, Any]:
        """What a run of the sweep records as its ``sweep`` property."""
        return {
            "experiment": self.experiment,
            "index": point.index,
            "of": len(self.points),
            "values": dict(point.values),
        }


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


def default_experiment(pipeline: str, now: float | None = None) -> str:
    """The experiment of a sweep run without ``--experiment``: ``<pipeline>-sweep-<UTC time>``.

    Example:
        >>> default_experiment("demo", now=0)
        'demo-sweep-19700101-000000'
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return f"{pipeline}-sweep-{stamp}"


def _unknown_parameter(spec: PipelineSpec, name: str) -> click.BadParameter:
    known = sorted(spec.parameters)
    same_case = [k for k in known if k.lower() == name.lower()]
    close = same_case or difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(known) if known else "none"
    return click.BadParameter(
        f"{name!r} is not a parameter of pipeline {spec.name!r}.{hint} Its parameters: {listed}",
        param_hint=_OPTION,
    )


def plan_sweep(
    spec: PipelineSpec,
    axes: Sequence[SweepAxis],
    fixed: Mapping[str, Any],
    *,
    experiment: str | None = None,
    now: float | None = None,
) -> Sweep:
    """Expand ``axes`` into the cartesian product (the first axis varies slowest) and check
    every combination against the pipeline's parameter types before any run starts.

    Raises:
        click.BadParameter: an axis names no parameter of the pipeline, a parameter is both
            swept and fixed, an axis lists the same value twice, or there are more than
            :data:`MAX_COMBINATIONS` combinations.
        DefinitionError: a value does not fit its parameter's type (from
            :func:`~conveyor.execution.params.resolve_parameters`).
    """
    for axis in axes:
        if axis.name not in spec.parameters:
            raise _unknown_parameter(spec, axis.name)
        if axis.name in fixed:
            raise click.BadParameter(
                f"{axis.name!r} is both swept and fixed (--param {axis.name}=...). Drop one: "
                "--param gives every run the same value, --sweep one run per value",
                param_hint=_OPTION,
            )
    count = math.prod(len(axis.values) for axis in axes)
    if count > MAX_COMBINATIONS:
        sizes = ", ".join(f"{axis.name}: {len(axis.values)} values" for axis in axes)
        raise click.BadParameter(
            f"the sweep makes {count} combinations ({sizes}); one sweep runs at most "
            f"{MAX_COMBINATIONS}. Sweep fewer values, or split it into several commands "
            "with the same --experiment",
            param_hint=_OPTION,
        )
    points: list[SweepPoint] = []
    typed: list[dict[str, int]] = [{} for _ in axes]  # per axis: resolved value -> its position
    for index, positions in enumerate(itertools.product(*(range(len(a.values)) for a in axes))):
        swept = {a.name: a.values[j] for a, j in zip(axes, positions, strict=True)}
        label = " ".join(f"{a.name}={a.texts[j]}" for a, j in zip(axes, positions, strict=True))
        overrides = {**fixed, **swept}
        try:
            resolved = resolve_parameters(spec, overrides)
        except DefinitionError as exc:
            raise DefinitionError(f"Sweep run [{label}]: {exc}") from None
        for seen, axis, j in zip(typed, axes, positions, strict=True):
            # compared as typed JSON: 1 and 1.0 are one number, True and 1 are not
            first = seen.setdefault(json.dumps(resolved[axis.name], sort_keys=True), j)
            if first != j:
                raise click.BadParameter(
                    f"{axis.name!r} lists the same value twice ({axis.texts[first]!r} and "
                    f"{axis.texts[j]!r}). Each value makes a run: list it once",
                    param_hint=_OPTION,
                )
        values = {name: resolved[name] for name in swept}
        points.append(SweepPoint(index, overrides, values, label))
    return Sweep(experiment or default_experiment(spec.name, now), tuple(axes), tuple(points))


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
    """Run every combination of ``sweep`` at once on the orchestrator's worker pool.

    ``properties`` are recorded on every run, with the run's own ``sweep`` property added.
    ``console=None`` prints nothing.
    """
    if console is not None:
        console.file.write(
            f"Sweep {sweep.experiment}: {_runs(len(sweep.points))} of pipeline {spec.name} "
            f"({', '.join(sweep.names)})\n"
        )
    return orch.run_many(
        spec,
        [p.overrides for p in sweep.points],
        experiment=sweep.experiment,
        properties=properties,
        run_properties=[{"sweep": sweep.properties(p)} for p in sweep.points],
        reporters=[
            SweepReporter(p.label, console=console, show_logs=show_logs) for p in sweep.points
        ],
    )


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
