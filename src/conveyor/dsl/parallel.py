"""Loops over items: ``ParallelFor`` with its current item, and fan-in of their outputs with
``Collected``."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, NoReturn

from conveyor.dsl.annotations import coerce_value, json_literal_matches, json_type_of_values
from conveyor.dsl.builder import Builder, GroupFrame, get_builder
from conveyor.dsl.conditions import RuntimeValue, fail_here
from conveyor.dsl.tasks import BindSite, OutputRef, Placeholder, Task, bind_value, scoped
from conveyor.errors import DefinitionError
from conveyor.ir.spec import (
    ArtifactSpec,
    CollectedRef,
    Constant,
    GroupSpec,
    LoopItemRef,
    ParameterSpec,
    ValueRef,
)
from conveyor.types.artifacts import is_compatible

__all__ = ["Collected", "LoopItem", "ParallelFor", "collect_group"]


class ParallelFor(GroupFrame):
    """Run the tasks created inside the block once per item of ``items``, in parallel (at most
    ``parallelism`` at once; None: no limit).

    ``items`` is a list literal, a list-typed pipeline parameter or task output, or a Python
    list mixing outputs, parameters and constants. ``with ... as item`` gives the current item:
    pass ``item`` (or ``item["key"]`` for dict items) to an input, or compare it. Outside the
    block, gather an output of every iteration with :class:`Collected`. Instances of a task
    inside are named ``task[0]``, ``task[1]``, ...

    Example:
        >>> from conveyor import Collected, ParallelFor, component, pipeline
        >>> @component
        ... def train(lr: float) -> float:
        ...     return lr
        >>> @component
        ... def best(scores: list) -> None: ...
        >>> @pipeline
        ... def sweep():
        ...     with ParallelFor([{"lr": 0.1}, {"lr": 0.01}], parallelism=2) as item:
        ...         t = train(lr=item["lr"])
        ...     best(scores=Collected(t.output))
        >>> sweep.spec.tasks["best"].inputs["scores"]
        CollectedRef(task='train', output='Output', group='parallel-for-1')
    """

    kind = "parallel_for"
    label = "ParallelFor"

    def __init__(self, items: Any, parallelism: int | None = None, name: str | None = None):
        super().__init__(name)
        bad = isinstance(parallelism, bool) or not isinstance(parallelism, int | None)
        if bad or (parallelism is not None and parallelism < 1):
            raise self.fail(
                "conveyor.ParallelFor(parallelism=...) must be a whole number >= 1, or None "
                f"for no limit; got {parallelism!r}"
            )
        self.parallelism = parallelism
        self.raw_items = items
        self.items: ValueRef | None = None
        self.static: list[Any] | None = None

    def _fail(self, message: str) -> DefinitionError:
        return self.fail(f"conveyor.ParallelFor(items=...): {message}")

    def _items(self, value: Any) -> ValueRef:
        runtime = (RuntimeValue, Placeholder, Task)
        if isinstance(value, list | tuple) and not any(isinstance(v, runtime) for v in value):
            if not json_literal_matches(list(value), "array"):
                raise self._fail(f"the items must be JSON values, got {list(value)!r}")
            self.static = coerce_value(list(value), "array")
            return Constant(self.static)
        if isinstance(value, (*runtime, list, tuple)):
            site = BindSite(self.builder, "", "items", self.builder.current_group, self._fail)
            return bind_value(site, value, ParameterSpec(type="array"))
        raise self._fail(
            "the items must be a list, a list-typed pipeline parameter, a list output of a "
            f"task, or a Python list of such values; got {value!r}"
        )

    def __enter__(self) -> LoopItem:
        self.items = self._items(self.raw_items)
        self.builder.open_group(self)
        return LoopItem(self)

    def __exit__(self, *exc: Any) -> None:
        self.builder.close_group(self)
        if exc[0] is None and not self.builder.tasks_inside(self.name):
            raise self.fail("A conveyor.ParallelFor block created no tasks; call components in it")

    def to_spec(self) -> GroupSpec:
        return GroupSpec(
            self.name,
            "parallel_for",
            parent=self.parent,
            items=self.items,
            parallelism=self.parallelism,
        )


class LoopItem(RuntimeValue, Placeholder):
    """The current item of a :class:`ParallelFor` (``with ParallelFor(...) as item``).

    Pass it to an input, take one key of a dict item with ``item["key"]``, or compare it in a
    condition. It exists only inside its block.

    Example:
        >>> from conveyor import ParallelFor, component, pipeline
        >>> @component
        ... def fit(depth: int) -> None: ...
        >>> @pipeline
        ... def grid():
        ...     with ParallelFor([{"depth": 2}, {"depth": 4}]) as item:
        ...         fit(depth=item["depth"])
        >>> grid.spec.tasks["fit"].inputs["depth"]
        LoopItemRef(group='parallel-for-1', key='depth')
    """

    def __init__(self, loop: ParallelFor, key: str | None = None):
        self.loop = loop
        self.key = key

    __hash__ = RuntimeValue.__hash__

    def __getitem__(self, key: str) -> LoopItem:
        if self.key is not None:
            raise fail_here(
                f"{self.describe()} is already one key of the item; take one key only "
                "(item['a']), and pass nested values as a dict"
            )
        if not isinstance(key, str):
            raise fail_here(f"The item of a ParallelFor is indexed by a dict key, got {key!r}")
        static = self.loop.static
        if static is not None:
            odd = [v for v in static if not isinstance(v, dict)]
            if odd:
                raise fail_here(
                    f"item[{key!r}]: the items of ParallelFor {self.loop.name!r} are not all "
                    f"dicts, e.g. {odd[0]!r}; pass the item itself"
                )
            missing = [i for i, v in enumerate(static) if key not in v]
            if missing:
                keys = sorted({k for v in static for k in v})
                close = difflib.get_close_matches(key, keys, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise fail_here(
                    f"item[{key!r}]: item {missing[0]} of ParallelFor {self.loop.name!r} has no "
                    f"key {key!r}; its keys are {sorted(static[missing[0]])!r}.{hint}"
                )
        return LoopItem(self.loop, key)

    def __iter__(self) -> NoReturn:
        raise fail_here(
            f"{self.describe()} has no value while the pipeline is built, so it cannot be "
            "iterated. Nest a ParallelFor over it: `with conveyor.ParallelFor(item) as sub:`"
        )

    def values(self) -> list[Any] | None:
        """The values the item takes, when the items are a list literal (else None)."""
        if self.loop.static is None:
            return None
        return [v if self.key is None else v[self.key] for v in self.loop.static]

    def describe(self) -> str:
        key = "" if self.key is None else f"[{self.key!r}]"
        return f"the item{key} of ParallelFor {self.loop.name!r}"

    def condition_operand(self) -> tuple[ValueRef, str | None]:
        if get_builder() is not self.loop.builder:
            raise fail_here(f"{self.describe()} belongs to another pipeline (or an earlier build)")
        return LoopItemRef(self.loop.name, self.key), json_type_of_values(self.values() or [])

    def bind(self, site: BindSite, spec: ParameterSpec | ArtifactSpec) -> ValueRef:
        if site.builder is not self.loop.builder:
            raise site.fail(f"{self.describe()} belongs to another pipeline (or an earlier build)")
        scoped(site, LoopItemRef(self.loop.name))
        if isinstance(spec, ArtifactSpec):
            raise site.fail(
                f"input {site.key!r} takes an artifact ({spec.type}), but {self.describe()} is "
                "a JSON value. Pass an artifact output of a task, or loop over parameters"
            )
        for i, value in enumerate(self.values() or []):
            wrong = not json_literal_matches(value, spec.type, spec.nullable)
            if wrong or (spec.enum is not None and value is not None and value not in spec.enum):
                expected = spec.type if wrong else f"one of {list(spec.enum or ())!r}"
                raise site.fail(
                    f"parameter {site.key!r} expects {expected}, but item {i} of ParallelFor "
                    f"{self.loop.name!r} gives {value!r}"
                )
        return LoopItemRef(self.loop.name, self.key)

    def __repr__(self) -> str:
        return f"LoopItem({self.loop.name!r}, key={self.key!r})"


def collect_group(
    builder: Builder, task: Task, group: str | None, fail: Callable[[str], Exception]
) -> str:
    """The iterating group to collect ``task`` over when used from inside ``group``."""
    scope = builder.chain(group)
    outside = [g for g in builder.chain(task.group) if builder.groups[g].iterates]
    outside = [g for g in outside if g not in scope]
    if not outside:
        raise fail(
            "conveyor.Collected(...) gathers a task's outputs over the iterations of a "
            f"ParallelFor or Loop, but task {task.name!r} runs once from here (it is not inside "
            "such a block that this one is outside of). Pass task.outputs[...] directly"
        )
    if len(outside) > 1:
        raise fail(
            f"task {task.name!r} runs inside the nested blocks {outside!r}; collect one level "
            f"at a time: inside {outside[0]!r}, pass Collected(...) to a task, then collect "
            "that task's output outside"
        )
    return outside[0]


class Collected(Placeholder):
    """Fan-in: the list of an output over every iteration of the ``ParallelFor`` or ``Loop``
    its task runs in, for a task outside that block. Also written ``Collected[output]``.

    An artifact output feeds an ``Input[list[T]]``; a parameter output feeds a ``list``
    parameter. Items are in iteration order.

    Example:
        >>> from conveyor import Collected, Dataset, Input, Output, ParallelFor
        >>> from conveyor import component, pipeline
        >>> @component
        ... def shard(index: int, out: Output[Dataset]) -> None: ...
        >>> @component
        ... def merge(parts: Input[list[Dataset]]) -> None: ...
        >>> @pipeline
        ... def shards():
        ...     with ParallelFor([0, 1, 2]) as i:
        ...         s = shard(index=i)
        ...     merge(parts=Collected[s.outputs["out"]])
        >>> shards.spec.tasks["merge"].depends_on
        ('shard',)
    """

    def __init__(self, output: OutputRef | Task):
        if isinstance(output, Task):
            output = output.output
        if not isinstance(output, OutputRef):
            raise fail_here(
                "conveyor.Collected(...) takes a task output, e.g. "
                f"Collected(train.outputs['model']); got {output!r}"
            )
        self.output = output

    def __class_getitem__(cls, output: OutputRef | Task) -> Collected:
        return cls(output)

    def bind(self, site: BindSite, spec: ParameterSpec | ArtifactSpec) -> ValueRef:
        out, key = self.output, site.key
        if site.builder.tasks.get(out.task.name) is not out.task:
            raise site.fail(f"input {key!r} collects {out.describe()}, of another pipeline")

        def fail(message: str) -> Exception:
            return site.fail(f"input {key!r}: {message}")

        group = collect_group(site.builder, out.task, site.group, fail)
        if isinstance(spec, ArtifactSpec):
            if out.kind != "artifact":
                raise fail(f"expects {spec.type} artifacts, got parameter {out.describe()}")
            if not spec.is_list:
                raise fail(
                    f"takes one {spec.type} artifact, but conveyor.Collected(...) gives a list. "
                    "Declare it as Input[list[...]]"
                )
            if not is_compatible(out.type, spec.type):
                raise fail(f"expects {spec.type}, got {out.type} from {out.describe()}")
        elif out.kind != "parameter":
            raise fail(f"is a parameter, got artifact {out.describe()}; use Input[list[...]]")
        elif spec.type not in ("array", "any"):
            raise fail(
                f"expects {spec.type}, but conveyor.Collected(...) gives a list. Annotate the "
                "parameter as list[...]"
            )
        return CollectedRef(out.task.name, out.name, group)

    def __repr__(self) -> str:
        return f"Collected({self.output!r})"
