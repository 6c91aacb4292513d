"""Rendering for people: the live run view, tables of runs, artifacts and lineage.

Rich loads only for a terminal: output to a file, a pipe or CI is plain text written without
it (:func:`run_console`), exactly what Rich would write there, at a fraction of the start-up.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from conveyor.execution.results import RunInfo, TaskResult
from conveyor.ir.spec import PipelineSpec
from conveyor.metadata.entities import ExecutionState
from conveyor.orchestrator.local import RunResult
from conveyor.orchestrator.reporter import RunReporter

if TYPE_CHECKING:
    from rich.console import Console, Group
    from rich.live import Live
    from rich.table import Table
    from rich.text import Text

__all__ = [
    "ConsoleReporter",
    "PlainConsole",
    "format_time",
    "rich_would_be_plain",
    "run_console",
    "short_uri",
    "state_text",
]

_STYLE = {
    "COMPLETE": ("✓", "green"),
    "CACHED": ("↺", "cyan"),
    "FAILED": ("✗", "bold red"),
    "CANCELED": ("⊘", "yellow"),
    "SKIPPED": ("-", "dim"),
    "RUNNING": ("▶", "blue"),
    "PENDING": ("·", "dim"),
}


def state_text(state: str) -> Text:
    """A coloured state label."""
    from rich.text import Text

    mark, style = _STYLE.get(state, ("?", ""))
    return Text(f"{mark} {state.lower()}", style=style)


def format_time(ts: Any) -> str:
    """A local timestamp for tables."""
    if isinstance(ts, int | float):
        return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(ts, dt.datetime):
        return ts.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return "" if ts is None else str(ts)


def rich_would_be_plain(stream: TextIO) -> bool:
    """Whether a Rich ``Console(file=stream)`` would surely not be a terminal here.

    Rich's own test (``Console.is_terminal``, Rich 13 to 15): ``TTY_COMPATIBLE=0`` -> no,
    ``=1`` -> yes; else ``FORCE_COLOR`` set -> yes unless empty; else ``stream.isatty()``.
    (Its other checks, IDLE and Jupyter, only ever answer no.) When this returns False the
    caller asks Rich itself; a test holds the two to the same answers.
    """
    tty_compatible = os.environ.get("TTY_COMPATIBLE", "")
    if tty_compatible in ("0", "1"):
        return tty_compatible == "0"
    force_color = os.environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color == ""
    isatty = getattr(stream, "isatty", None)
    try:
        return isatty is None or not isatty()
    except ValueError:  # a closed stream
        return True


class PlainConsole:
    """What :class:`ConsoleReporter` uses of a Rich console when output is not a terminal:
    the stream it writes plain lines to."""

    is_terminal = False

    def __init__(self, file: TextIO) -> None:
        self.file = file


def run_console(stderr: bool = False) -> Console | PlainConsole:
    """The console of a run's progress: plain when Rich would not see a terminal (no Rich
    import), else a Rich console. The stream is bound now: an in-process run redirects
    ``sys.stdout`` into the step's log, and the view must keep writing to the real one."""
    stream = sys.stderr if stderr else sys.stdout
    if rich_would_be_plain(stream):
        return PlainConsole(stream)
    from rich.console import Console

    return Console(file=stream, highlight=False)


class ConsoleReporter(RunReporter):
    """The live progress view of ``conveyor run``: one row per step, logs streamed above."""

    def __init__(self, console: Console | PlainConsole, *, show_logs: bool = True):
        self.console = console
        self.show_logs = show_logs
        self.live: Live | None = None
        self.spec: PipelineSpec | None = None
        self.run: RunInfo | None = None
        self.states: dict[str, str] = {}
        self.started: dict[str, float] = {}
        self.results: dict[str, TaskResult] = {}
        self._partial: dict[str, str] = {}
        self._t0 = time.monotonic()

    def before_run(self, run: RunInfo, spec: PipelineSpec) -> None:
        """Print the run id and start the live table."""
        self.spec, self.run = spec, run
        self.states = {t: "PENDING" for t in spec.topological_order()}
        self._t0 = time.monotonic()
        size = f"{len(spec.tasks)} steps"
        if spec.groups:  # loops and fan-outs decide at run time how often a step runs
            size = f"{len(spec.tasks)} tasks with control flow"
        if self.plain:
            self._write(f"Run {run.run_id} of pipeline {spec.name}: {size}")
        else:
            from rich.live import Live
            from rich.markup import escape

            self._rich.print(
                f"[bold]Run[/] [cyan]{run.run_id}[/] of pipeline [bold]{escape(spec.name)}[/]: "
                f"{size}"
            )
            self.live = Live(
                self._table(), console=self._rich, refresh_per_second=8, transient=True
            )
            self.live.start()

    def _instance_row(self, task: str) -> None:
        """An instance (``train[2]``) takes the place of its task's pending row."""
        base = task.split("[", 1)[0]
        if base != task and self.states.get(base) == "PENDING":
            del self.states[base]

    def _rows(self) -> list[str]:
        """Rows in the pipeline's order; a loop's or parallel-for's instances iteration by
        iteration (``boost[0] score[0] boost[1] score[1]``)."""
        spec = self.spec
        if spec is None or not spec.groups:
            return list(self.states)
        topo = {t: i for i, t in enumerate(spec.topological_order())}

        def key(name: str) -> tuple[int, tuple[int, ...], int]:
            base = name.split("[", 1)[0]
            if base not in topo:
                return (len(topo), (), 0)
            groups = spec.iterating_groups_of(base)
            if not groups:
                return (topo[base], (), topo[base])
            outer = groups[0]
            first = min(topo[t] for t in spec.tasks if outer in spec.groups_of(t))
            marks = name[len(base) :].strip("[]").split("][")
            indices = tuple(int(m) if m.isdigit() else 1 << 30 for m in marks)
            return (first, indices, topo[base])

        return sorted(self.states, key=key)

    def before_task(self, task: str) -> None:
        """Mark a step as running."""
        self._instance_row(task)
        self.states[task] = "RUNNING"
        self.started[task] = time.monotonic()
        self._refresh()

    def after_task(self, result: TaskResult) -> None:
        """Mark a step as ended (and print a line when not on a terminal)."""
        self._instance_row(result.task)
        self.states[result.task] = result.state.value
        self.results[result.task] = result
        self._flush_partial(result.task)
        if self.live is None:
            extra = " (from cache)" if result.cached else ""
            took = f" {result.duration_seconds:.2f}s" if result.duration_seconds else ""
            if self.plain:
                mark = _STYLE.get(result.state.value, ("?", ""))[0]
                self._write(f"{mark} {result.state.value.lower()}  {result.task}{took}{extra}")
            else:
                from rich.text import Text

                line = Text.assemble(
                    state_text(result.state.value), f"  {result.task}{took}{extra}"
                )
                self._rich.print(line, highlight=False)
        self._refresh()

    @property
    def _rich(self) -> Console:
        """The Rich console (only a terminal has one)."""
        assert not isinstance(self.console, PlainConsole)
        return self.console

    @property
    def plain(self) -> bool:
        """Not a terminal (a file, a pipe, CI): plain lines, no styling or tables to lay out."""
        return not self.console.is_terminal

    def _write(self, line: str) -> None:
        self.console.file.write(line + "\n")

    def task_log(self, task: str, text: str) -> None:
        """Print complete log lines of a step, prefixed with its name."""
        if not self.show_logs:
            return
        buffered = self._partial.get(task, "") + text
        *lines, rest = buffered.split("\n")
        self._partial[task] = rest
        for line in lines:
            self._log_line(task, line)

    def _log_line(self, task: str, line: str) -> None:
        if self.plain:
            self._write(f"{task} │ {line}")
        else:
            from rich.text import Text

            self._rich.print(Text.assemble((f"{task} │ ", "dim"), line), highlight=False)

    def _flush_partial(self, task: str) -> None:
        rest = self._partial.pop(task, "")
        if rest and self.show_logs:
            self._log_line(task, rest)

    def after_run(self, result: RunResult) -> None:
        """Stop the live view and print the summary, with the error of any failed step."""
        if self.live is not None:
            self.live.stop()
            self.live = None
        took = f"{result.duration_seconds:.2f}s"
        if self.plain:
            self._write(self._plain_summary(result))
            for task in result.failed_tasks:
                r = result.tasks[task]
                self._write(f"\nStep {task} failed: {r.error or ''}")
                if r.traceback:
                    self._write(r.traceback.rstrip())
                if r.log_path:
                    self._write(f"log: {r.log_path}")
            self._write(f"\nRun {result.run_id} {result.state.lower()} in {took}")
            return
        from rich.markup import escape
        from rich.text import Text

        self._rich.print(self._summary(result))
        for task in result.failed_tasks:
            r = result.tasks[task]
            self._rich.print(f"\n[bold red]Step {escape(task)} failed:[/] {escape(r.error or '')}")
            if r.traceback:
                self._rich.print(Text(r.traceback.rstrip(), style="red"))
            if r.log_path:
                self._rich.print(f"[dim]log: {escape(r.log_path)}[/]")
        colour = {"COMPLETE": "green", "FAILED": "red"}.get(result.state, "yellow")
        self._rich.print(
            f"\nRun [cyan]{result.run_id}[/] [{colour}]{result.state.lower()}[/] in {took}"
        )

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._table())

    def _table(self) -> Group:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("step")
        table.add_column("state")
        table.add_column("time", justify="right")
        now = time.monotonic()
        for task in self._rows():
            state = self.states[task]
            if state == "RUNNING":
                took = f"{now - self.started.get(task, now):.1f}s"
            elif task in self.results:
                took = f"{self.results[task].duration_seconds:.2f}s"
            else:
                took = ""
            table.add_row(task, state_text(state), took)
        done = sum(1 for s in self.states.values() if s not in ("PENDING", "RUNNING"))
        footer = Text(f"{done}/{len(self.states)} steps · {now - self._t0:.1f}s", style="dim")
        return Group(table, footer)

    def _plain_summary(self, result: RunResult) -> str:
        rows = [("step", "state", "time", "outputs / reason")]
        for task in self._rows():
            r = result.tasks.get(task)
            if r is None:
                continue
            if r.state == ExecutionState.CACHED:
                detail = _plain_outputs(r.outputs.artifacts, r.outputs.parameters)
                detail.append(r.cache_reason)
            elif not r.state.is_success and r.error:
                detail = [r.error.splitlines()[0]]
            else:
                detail = _plain_outputs(r.outputs.artifacts, r.outputs.parameters)
            took = f"{r.duration_seconds:.2f}s"
            rows.append((task, r.state.value.lower(), took, detail[0] if detail else ""))
            rows += [("", "", "", more) for more in detail[1:]]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        return "\n".join(
            f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}  {d}".rstrip()
            for a, b, c, d in rows
        )

    def _summary(self, result: RunResult) -> Table:
        from rich.markup import escape
        from rich.table import Table

        table = Table(title=None, header_style="bold", box=None, pad_edge=False)
        table.add_column("step")
        table.add_column("state")
        table.add_column("time", justify="right")
        table.add_column("outputs / reason", overflow="fold")
        for task in self._rows():
            r = result.tasks.get(task)
            if r is None:
                continue
            detail = _outputs_text(r.outputs.artifacts, r.outputs.parameters)
            if r.state == ExecutionState.CACHED:
                detail = f"{detail}\n[dim]{escape(r.cache_reason)}[/]" if detail else r.cache_reason
            elif not r.state.is_success and r.error:
                detail = escape(r.error.splitlines()[0])
            table.add_row(task, state_text(r.state.value), f"{r.duration_seconds:.2f}s", detail)
        return table


def short_uri(uri: str) -> str:
    """A local artifact path relative to the working directory when it is below it."""
    if "://" in uri:
        return uri
    cwd = os.getcwd()
    return os.path.relpath(uri, cwd) if uri.startswith(cwd + os.sep) else uri


def _plain_outputs(artifacts: Mapping[str, Any], parameters: Mapping[str, Any]) -> list[str]:
    lines = [f"{k} = {v}" for k, v in sorted(parameters.items())]
    return lines + [f"{k} → {short_uri(a.uri)}" for k, a in sorted(artifacts.items())]


def _outputs_text(artifacts: Mapping[str, Any], parameters: Mapping[str, Any]) -> str:
    from rich.markup import escape

    parts = [f"{escape(k)} = {escape(str(v))}" for k, v in sorted(parameters.items())]
    parts += [f"{escape(k)} → {escape(short_uri(a.uri))}" for k, a in sorted(artifacts.items())]
    return "\n".join(parts)
