"""The pipeline being built: its tasks, components and open control-flow blocks."""

from __future__ import annotations

import abc
import contextlib
import contextvars
from collections.abc import Callable, Container, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from conveyor.dsl.conditions import caller_location, fail_here
from conveyor.errors import DefinitionError
from conveyor.ir.spec import (
    GroupSpec,
    ListRef,
    LoopCarryRef,
    LoopItemRef,
    OneOfRef,
    ParameterSpec,
    TaskOutputRef,
    ValueRef,
)

if TYPE_CHECKING:
    from conveyor.dsl.component import Component
    from conveyor.dsl.tasks import Task

__all__ = ["Builder", "GroupFrame", "building", "current_builder", "get_builder", "numbered"]

_BUILDER: contextvars.ContextVar[Builder | None] = contextvars.ContextVar(
    "conveyor_pipeline_builder", default=None
)


def get_builder() -> Builder | None:
    """The pipeline being built in this context, if any."""
    return _BUILDER.get()


@contextlib.contextmanager
def building(name: str, params: dict[str, ParameterSpec]) -> Iterator[Builder]:
    """Collect the tasks that component calls add while the block runs."""
    builder = Builder(name, params)
    token = _BUILDER.set(builder)
    try:
        yield builder
    finally:
        _BUILDER.reset(token)


def current_builder(what: str) -> Builder:
    """The pipeline being built, or a DefinitionError saying ``what`` needs one."""
    builder = _BUILDER.get()
    if builder is None:
        raise fail_here(
            f"{what} is used inside a @pipeline function, around the component calls it "
            "controls; there is no pipeline being built here"
        )
    return builder


def numbered(base: str, taken: Container[str], start: int = 1) -> str:
    """The first ``base-N`` not in ``taken``, trying N from ``start`` up."""
    n = start
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


class GroupFrame(abc.ABC):
    """A control-flow block of the pipeline being built (``with conveyor.If(...)``,
    ``ParallelFor``, ``Loop``, ``ExitHandler``): one ``GroupSpec`` in the IR."""

    kind: ClassVar[str] = ""
    label: ClassVar[str] = ""  # the constructor's name, for messages

    def __init__(self, name: str | None):
        self.source_file, self.lineno = caller_location()
        self.builder = current_builder(f"conveyor.{self.label}(...)")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise self.fail(f"conveyor.{self.label}(name=...) must be a non-empty string")
        self.requested_name = name
        self.name = ""
        self.parent: str | None = None
        self.state = "new"  # then "open", then "closed"

    def fail(self, message: str) -> DefinitionError:
        """A DefinitionError pointing at the line that opened this block."""
        return DefinitionError(message, source_file=self.source_file, lineno=self.lineno)

    @property
    def iterates(self) -> bool:
        """Whether the block runs its tasks more than once."""
        return self.kind in ("parallel_for", "loop")

    @abc.abstractmethod
    def to_spec(self) -> GroupSpec:
        """This block in the IR."""


class Builder:
    """The tasks, components and control-flow groups of the pipeline being built."""

    def __init__(self, name: str, params: dict[str, ParameterSpec]):
        self.name = name
        self.params = params
        self.tasks: dict[str, Task] = {}
        self.components: dict[str, Component] = {}
        self.groups: dict[str, GroupFrame] = {}
        self.stack: list[GroupFrame] = []
        # The If/Elif blocks an Elif or Else may continue: (their parent group, their
        # conditions). Cleared by anything else happening in between.
        self.branches: tuple[str | None, tuple[Any, ...]] | None = None
        self.status_takers: dict[str, Callable[[str], DefinitionError]] = {}
        self.handlers: dict[str, str] = {}  # exit task -> its exit_handler group

    def unique_name(self, base: str) -> str:
        return base if base not in self.tasks else numbered(base, self.tasks, 2)

    @property
    def current_group(self) -> str | None:
        """The innermost open block."""
        return self.stack[-1].name if self.stack else None

    def chain(self, group: str | None) -> list[str]:
        """``group`` and the groups around it, outermost first."""
        found: list[str] = []
        while group is not None:
            found.append(group)
            group = self.groups[group].parent
        return found[::-1]

    def open_group(self, frame: GroupFrame) -> None:
        if frame.state != "new":
            raise frame.fail(f"A conveyor.{frame.label}(...) block can be entered only once")
        name = frame.requested_name
        if name is None:
            name = numbered(frame.kind.replace("_", "-"), self.groups)
        elif name in self.groups:
            raise frame.fail(
                f"Two blocks are named {name!r}; block names are unique in a pipeline. "
                "Pass another name=..."
            )
        frame.name, frame.parent, frame.state = name, self.current_group, "open"
        self.groups[name] = frame
        self.stack.append(frame)
        self.branches = None

    def close_group(self, frame: GroupFrame) -> None:
        if self.stack and self.stack[-1] is frame:
            self.stack.pop()
        frame.state = "closed"
        self.branches = None

    def tasks_inside(self, group: str) -> list[str]:
        """Tasks in ``group`` or in blocks nested in it."""
        return [n for n, t in self.tasks.items() if group in self.chain(t.group)]

    def scope_problem(self, ref: ValueRef, group: str | None) -> str | None:
        """Why ``ref`` cannot be used from inside ``group`` (None if it can)."""
        scope = self.chain(group)
        if isinstance(ref, ListRef | OneOfRef):
            found = [self.scope_problem(item, group) for item in ref.items]
            return next((p for p in found if p), None)
        if isinstance(ref, TaskOutputRef) and ref.task in self.tasks:
            fanned = [
                g
                for g in self.chain(self.tasks[ref.task].group)
                if g not in scope and self.groups[g].kind == "parallel_for"
            ]
            if fanned:
                return (
                    f"uses output {ref.output!r} of task {ref.task!r}, which runs once per item "
                    f"of ParallelFor {fanned[-1]!r}. Use it inside that block, or collect it "
                    f"with conveyor.Collected(task.outputs[{ref.output!r}]) into a list input"
                )
        if isinstance(ref, LoopItemRef) and ref.group not in scope:
            return f"uses the item of ParallelFor {ref.group!r} outside its `with` block"
        if isinstance(ref, LoopCarryRef) and ref.group not in scope:
            return f"uses carried value {ref.name!r} of Loop {ref.group!r} outside its `with` block"
        return None
