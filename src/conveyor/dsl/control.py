"""Control flow in a pipeline: conditions (``If``/``Elif``/``Else``) with their fan-in
(``OneOf``), and exit handlers (``ExitHandler`` with ``RunStatus``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Self

from conveyor.dsl.builder import Builder, GroupFrame
from conveyor.dsl.conditions import (
    ConditionExpr,
    as_condition,
    fail_here,
)
from conveyor.dsl.tasks import (
    BindSite,
    Placeholder,
    Task,
    bind_value,
)
from conveyor.errors import DefinitionError
from conveyor.ir.spec import (
    ArtifactSpec,
    Condition,
    GroupSpec,
    OneOfRef,
    ParameterSpec,
    RunStatusRef,
    ValueRef,
)

__all__ = [
    "Elif",
    "Else",
    "ExitHandler",
    "If",
    "OneOf",
    "RunStatus",
    "check_condition",
    "check_finished",
]


def _refs(value: ValueRef | Condition) -> Iterator[ValueRef]:
    if isinstance(value, Condition):
        for arg in value.args:
            yield from _refs(arg)
    else:
        yield value


def check_condition(
    builder: Builder, expr: ConditionExpr, group: str | None, fail: Callable[[str], Exception]
) -> None:
    """Raise ``fail(...)`` if a value ``expr`` compares cannot be used from inside ``group``."""
    for ref in _refs(expr.condition):
        problem = builder.scope_problem(ref, group)
        if problem:
            raise fail(f"its condition {problem}")


# --- If / Elif / Else ------------------------------------------------------------------------


class _Branch(GroupFrame):
    kind = "condition"

    def __init__(self, condition: ConditionExpr | None, name: str | None):
        super().__init__(name)
        self.own = condition
        self.previous: tuple[Condition, ...] = ()
        self.condition: Condition | None = None

    def _previous(self) -> tuple[Condition, ...]:
        """The conditions of the If/Elif chain this block continues."""
        branches = self.builder.branches
        if branches is None or branches[0] != self.builder.current_group:
            raise self.fail(
                f"conveyor.{self.label}() must directly follow a `with conveyor.If(...)` or "
                "`with conveyor.Elif(...)` block at the same level, with no task created in "
                "between"
            )
        return tuple(branches[1])

    def __enter__(self) -> Self:
        self.previous = self._previous()  # before opening, which ends the chain
        if self.own is not None:
            check_condition(self.builder, self.own, self.builder.current_group, self._fail)
        negated = tuple(Condition("not", (c,)) for c in self.previous)
        parts = (*negated, self.own.condition) if self.own is not None else negated
        self.condition = parts[0] if len(parts) == 1 else Condition("and", parts)
        self.builder.open_group(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.builder.close_group(self)
        if exc[0] is None and self.own is not None:
            self.builder.branches = (self.parent, (*self.previous, self.own.condition))

    def _fail(self, message: str) -> DefinitionError:
        return self.fail(f"conveyor.{self.label}(...): {message}")

    def to_spec(self) -> GroupSpec:
        return GroupSpec(self.name, "condition", parent=self.parent, condition=self.condition)


class If(_Branch):
    """Run the tasks created inside the block only when ``condition`` holds at run time;
    otherwise they are recorded as skipped.

    ``condition`` compares task outputs, pipeline parameters or loop items (``acc > 0.9``,
    ``mode.is_in(["a", "b"])``), combined with ``&``, ``|``, ``~``; a boolean output or
    parameter ``x`` alone means ``x == True``. Follow the block with ``Elif``/``Else``.

    Example:
        >>> from conveyor import If, component, pipeline
        >>> @component
        ... def evaluate() -> float:
        ...     return 0.93
        >>> @component
        ... def deploy() -> None: ...
        >>> @pipeline
        ... def gated():
        ...     acc = evaluate().output
        ...     with If(acc > 0.9, name="good-enough"):
        ...         deploy()
        >>> gated.spec.tasks["deploy"].group
        'good-enough'
    """

    label = "If"

    def __init__(self, condition: Any, name: str | None = None):
        super().__init__(as_condition(condition, "conveyor.If(...)"), name)

    def _previous(self) -> tuple[Condition, ...]:
        return ()  # an If starts a chain


class Elif(_Branch):
    """Run the tasks inside only when every previous ``If``/``Elif`` condition of the chain is
    false and ``condition`` holds. It must directly follow an ``If`` or ``Elif`` block at the
    same level, with no task created in between.

    Example:
        >>> from conveyor import Elif, If, component, pipeline
        >>> @component
        ... def score() -> float:
        ...     return 0.5
        >>> @component
        ... def act(level: str) -> None: ...
        >>> @pipeline
        ... def tiers():
        ...     s = score().output
        ...     with If(s > 0.9):
        ...         act(level="high")
        ...     with Elif(s > 0.4):
        ...         act(level="mid")
        >>> tiers.spec.groups["condition-2"].condition.op
        'and'
    """

    label = "Elif"

    def __init__(self, condition: Any, name: str | None = None):
        super().__init__(as_condition(condition, "conveyor.Elif(...)"), name)


class Else(_Branch):
    """Run the tasks inside only when every condition of the ``If``/``Elif`` chain it follows
    is false. It must directly follow an ``If`` or ``Elif`` block at the same level.

    Example:
        >>> from conveyor import Else, If, component, pipeline
        >>> @component
        ... def check() -> bool:
        ...     return True
        >>> @component
        ... def act(level: str) -> None: ...
        >>> @pipeline
        ... def either():
        ...     ok = check().output
        ...     with If(ok):
        ...         act(level="ship")
        ...     with Else():
        ...         act(level="alert")
        >>> either.spec.groups["condition-2"].condition.op
        'not'
    """

    label = "Else"

    def __init__(self, name: str | None = None):
        super().__init__(None, name)


class OneOf(Placeholder):
    """The first of ``values`` whose task was not skipped: fan-in after ``If``/``Else``.

    Each value is a task output (or a pipeline parameter or constant, as a fallback) that fits
    the input it is passed to.

    Example:
        >>> from conveyor import Else, If, OneOf, component, pipeline
        >>> @component
        ... def big() -> int:
        ...     return 1
        >>> @component
        ... def small() -> int:
        ...     return 0
        >>> @component
        ... def report(size: int) -> None: ...
        >>> @pipeline
        ... def branchy(large: bool = True):
        ...     with If(large):
        ...         b = big()
        ...     with Else():
        ...         s = small()
        ...     report(size=OneOf(b.output, s.output))
        >>> branchy.spec.tasks["report"].depends_on
        ('big', 'small')
    """

    def __init__(self, *values: Any):
        if len(values) < 2:
            raise fail_here(
                "conveyor.OneOf(...) picks among two or more values, e.g. "
                f"OneOf(a.output, b.output); got {len(values)}"
            )
        self.values = values

    def bind(self, site: BindSite, spec: ParameterSpec | ArtifactSpec) -> ValueRef:
        if isinstance(spec, ArtifactSpec) and spec.is_list:
            raise site.fail(
                f"input {site.key!r} takes a list of {spec.type} artifacts; conveyor.OneOf(...) "
                "gives one"
            )
        return OneOfRef(tuple(bind_value(site, v, spec) for v in self.values))

    def __repr__(self) -> str:
        return f"OneOf{self.values!r}"


# --- exit handlers ---------------------------------------------------------------------------


class _RunStatus(Placeholder):
    def bind(self, site: BindSite, spec: ParameterSpec | ArtifactSpec) -> ValueRef:
        if isinstance(spec, ArtifactSpec) or spec.type not in ("object", "any"):
            raise site.fail(
                f"input {site.key!r} gets conveyor.RunStatus, a JSON object; declare it as a "
                "dict parameter, e.g. `status: dict`"
            )
        site.builder.status_takers[site.task] = site.fail
        return RunStatusRef()

    def __repr__(self) -> str:
        return "conveyor.RunStatus"


RunStatus: Any = _RunStatus()
"""Pass to a ``dict`` parameter of an :class:`ExitHandler`'s exit task: at run time it is
``{"state": "COMPLETE" | "FAILED", "pipeline": ..., "run_id": ..., "failed_tasks": [...],
"error": str | None}`` for the tasks inside the handler's block."""


class ExitHandler(GroupFrame):
    """Run ``exit_task`` after the tasks created inside the block, whether they succeed or not.

    Create the exit task just before the block (it must take no data from tasks inside it);
    give it ``conveyor.RunStatus`` to learn how they ended.

    Example:
        >>> from conveyor import ExitHandler, RunStatus, component, pipeline
        >>> @component
        ... def notify(status: dict) -> None: ...
        >>> @component
        ... def train() -> None: ...
        >>> @pipeline
        ... def watched():
        ...     with ExitHandler(notify(status=RunStatus)):
        ...         train()
        >>> watched.spec.groups["exit-handler-1"].handler_task
        'notify'
    """

    kind = "exit_handler"
    label = "ExitHandler"

    def __init__(self, exit_task: Task, name: str | None = None):
        super().__init__(name)
        if not isinstance(exit_task, Task):
            raise self.fail(
                "conveyor.ExitHandler(...) takes the exit task, created just before the block: "
                f"ExitHandler(notify(status=conveyor.RunStatus)); got {exit_task!r}"
            )
        self.exit_task = exit_task

    def __enter__(self) -> ExitHandler:
        task, builder = self.exit_task, self.builder
        if builder.tasks.get(task.name) is not task:
            raise self.fail(f"Exit task {task.name!r} belongs to another pipeline")
        if task.name in builder.handlers:
            raise self.fail(
                f"Task {task.name!r} is already the exit task of ExitHandler "
                f"{builder.handlers[task.name]!r}; create one exit task per block"
            )
        if task.group != builder.current_group:
            raise self.fail(
                f"Exit task {task.name!r} was created inside block {task.group!r}; create it "
                "just before `with conveyor.ExitHandler(...)`, at the same level"
            )
        builder.open_group(self)
        builder.handlers[task.name] = self.name
        return self

    def __exit__(self, *exc: Any) -> None:
        self.builder.close_group(self)
        if exc[0] is not None:
            return
        inside = self.builder.tasks_inside(self.name)
        if not inside:
            raise self.fail("A conveyor.ExitHandler block created no tasks; call components in it")
        for name in inside:
            fail = self.builder.status_takers.get(name)
            if fail is not None and name not in self.builder.handlers:
                raise fail(
                    f"it takes conveyor.RunStatus but was created inside the ExitHandler block "
                    f"{self.name!r} it would report on. Create the exit task before the block "
                    "and pass it: `with conveyor.ExitHandler(notify(status=conveyor.RunStatus)):`"
                )

    def to_spec(self) -> GroupSpec:
        return GroupSpec(
            self.name, "exit_handler", parent=self.parent, handler_task=self.exit_task.name
        )


def check_finished(builder: Builder) -> None:
    """Checks that need the whole pipeline: every RunStatus taker handles an exit, and no exit
    task takes data from the tasks it watches."""
    if builder.stack:
        raise builder.stack[-1].fail("This block was entered but never closed; use `with`")
    for name, fail in builder.status_takers.items():
        if name not in builder.handlers:
            raise fail(
                "it takes conveyor.RunStatus but is not the exit task of a conveyor.ExitHandler. "
                "Pass it to one: `with conveyor.ExitHandler(task):` around the tasks it reports on"
            )
    for name, group in builder.handlers.items():
        inside = sorted(builder.tasks[name].dependencies() & set(builder.tasks_inside(group)))
        if inside:
            raise builder.groups[group].fail(
                f"The exit task {name!r} of ExitHandler {group!r} takes data from (or runs "
                f"after) tasks inside the block {inside!r}. It always runs after them and gets "
                "how they ended through conveyor.RunStatus, not their outputs"
            )
