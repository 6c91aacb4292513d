"""The intermediate representation: frozen dataclasses that every backend consumes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "IR_VERSION",
    "ArtifactSpec",
    "CollectedRef",
    "ComponentSpec",
    "Condition",
    "Constant",
    "GroupSpec",
    "Implementation",
    "ListRef",
    "LoopCarry",
    "LoopCarryRef",
    "LoopItemRef",
    "OneOfRef",
    "ParameterSpec",
    "PipelineParameterRef",
    "PipelineSpec",
    "Resources",
    "RetryPolicy",
    "RunStatusRef",
    "TaskOutputRef",
    "TaskSpec",
    "ValueRef",
]

IR_VERSION = "1.1"
"""Version of the IR format. Readers accept the same major version."""

ParameterType = Literal["string", "integer", "number", "boolean", "array", "object", "any"]
PARAMETER_TYPES: tuple[str, ...] = (
    "string",
    "integer",
    "number",
    "boolean",
    "array",
    "object",
    "any",
)


class _Missing:
    """Marker for 'no default'."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""The default of a parameter that has none (distinct from ``None``, a valid default)."""


@dataclass(frozen=True)
class ParameterSpec:
    """A JSON-typed parameter (input or output) of a component or pipeline.

    ``enum`` lists the allowed values when the annotation is a ``Literal[...]``.
    """

    type: str
    default: Any = MISSING
    nullable: bool = False
    description: str = ""
    enum: tuple[Any, ...] | None = None

    @property
    def has_default(self) -> bool:
        """Whether the parameter may be left unbound."""
        return self.default is not MISSING


@dataclass(frozen=True)
class ArtifactSpec:
    """A typed artifact slot (input or output) of a component; ``type`` is ``title@version``."""

    type: str
    optional: bool = False
    is_list: bool = False
    description: str = ""


@dataclass(frozen=True)
class Implementation:
    """Where the component's code lives: an importable module and a function in it."""

    module: str
    function: str
    source_file: str | None = None


@dataclass(frozen=True)
class Resources:
    """Resources a backend reserves for a task (the local runner records them)."""

    cpu: float | None = None
    memory: str | None = None
    gpu: int = 0
    gpu_type: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Retries with exponential backoff: wait ``backoff_seconds * backoff_factor**n``, capped."""

    max_retries: int = 0
    backoff_seconds: float = 1.0
    backoff_factor: float = 2.0
    backoff_max_seconds: float = 60.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        wait = self.backoff_seconds * self.backoff_factor ** (attempt - 1)
        return float(min(self.backoff_max_seconds, wait))


@dataclass(frozen=True)
class ComponentSpec:
    """A component's interface, implementation and declared options."""

    name: str
    implementation: Implementation
    description: str = ""
    input_parameters: Mapping[str, ParameterSpec] = field(default_factory=dict)
    input_artifacts: Mapping[str, ArtifactSpec] = field(default_factory=dict)
    output_parameters: Mapping[str, ParameterSpec] = field(default_factory=dict)
    output_artifacts: Mapping[str, ArtifactSpec] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_seconds: float | None = None
    resources: Resources = field(default_factory=Resources)
    cache: bool = True
    cache_env: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    base_image: str | None = None


# --- value references: how a task input is bound -------------------------------------------


@dataclass(frozen=True)
class Constant:
    """A literal JSON value."""

    value: Any


@dataclass(frozen=True)
class PipelineParameterRef:
    """The value of a pipeline parameter."""

    name: str


@dataclass(frozen=True)
class TaskOutputRef:
    """An output (artifact or parameter) of an upstream task."""

    task: str
    output: str


@dataclass(frozen=True)
class LoopItemRef:
    """The current item of a ``parallel_for`` group (optionally one key of a dict item)."""

    group: str
    key: str | None = None


@dataclass(frozen=True)
class CollectedRef:
    """Fan-in: the list of an output over every iteration of a ``parallel_for`` group."""

    task: str
    output: str
    group: str


@dataclass(frozen=True)
class ListRef:
    """Static fan-in: a list whose items are other references (e.g. outputs of many tasks)."""

    items: tuple[ValueRef, ...]


@dataclass(frozen=True)
class RunStatusRef:
    """The final status of the tasks an exit handler watches (a JSON object), for its handler."""


@dataclass(frozen=True)
class LoopCarryRef:
    """A value carried from one iteration of a ``loop`` group to the next (warm start).

    In iteration 0 it is the carry's ``initial`` value; in iteration ``i`` it is the carry's
    ``next`` reference as resolved in iteration ``i - 1``.
    """

    group: str
    name: str


@dataclass(frozen=True)
class OneOfRef:
    """The first of ``items`` whose task was not skipped (fan-in after ``If``/``Else``)."""

    items: tuple[ValueRef, ...]


ValueRef = (
    Constant
    | PipelineParameterRef
    | TaskOutputRef
    | LoopItemRef
    | CollectedRef
    | ListRef
    | RunStatusRef
    | LoopCarryRef
    | OneOfRef
)
"""How a task input (or a group's items) is bound: one of the reference classes above."""

ConditionOp = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not in", "and", "or", "not"]
COMPARISON_OPS: tuple[str, ...] = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")
LOGICAL_OPS: tuple[str, ...] = ("and", "or", "not")


@dataclass(frozen=True)
class Condition:
    """A boolean expression over values: a comparison of two refs, or and/or/not of conditions."""

    op: str
    args: tuple[ValueRef | Condition, ...]


@dataclass(frozen=True)
class LoopCarry:
    """A loop-carried value: ``initial`` feeds iteration 0 (``None``: no value, the input's
    default applies), ``next`` (an output of a task inside the loop) feeds the next iteration."""

    initial: ValueRef | None
    next: ValueRef


@dataclass(frozen=True)
class GroupSpec:
    """A control-flow group the tasks inside it belong to.

    Kinds:
        ``condition``: tasks run only when ``condition`` holds (else recorded as skipped).
        ``parallel_for``: tasks run once per item of ``items``, at most ``parallelism`` at once.
        ``loop``: tasks run again and again, at most ``max_iterations`` times, until ``until``
        holds after an iteration; ``carry`` passes values from one iteration to the next.
        ``exit_handler``: ``handler_task`` always runs after the tasks in the group.
    """

    name: str
    kind: Literal["condition", "parallel_for", "loop", "exit_handler"]
    parent: str | None = None
    condition: Condition | None = None
    items: ValueRef | None = None
    parallelism: int | None = None
    max_iterations: int | None = None
    until: Condition | None = None
    handler_task: str | None = None
    carry: Mapping[str, LoopCarry] = field(default_factory=dict)

    @property
    def iterates(self) -> bool:
        """Whether the group runs its tasks more than once (``parallel_for`` or ``loop``)."""
        return self.kind in ("parallel_for", "loop")


DYNAMIC_OPTIONS: tuple[str, ...] = ("cpu", "memory", "gpu", "max_retries", "timeout_seconds")
"""Task options that may be bound to a value known only at run time (``TaskSpec.dynamic``)."""


@dataclass(frozen=True)
class TaskSpec:
    """One call of a component in a pipeline, with its bindings and effective options."""

    name: str
    component: str
    inputs: Mapping[str, ValueRef] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    group: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_seconds: float | None = None
    resources: Resources = field(default_factory=Resources)
    cache: bool = True
    display_name: str | None = None
    dynamic: Mapping[str, ValueRef] = field(default_factory=dict)
    """Options (keys of ``DYNAMIC_OPTIONS``) whose values are resolved when the task starts."""


@dataclass(frozen=True)
class PipelineSpec:
    """A whole pipeline: parameters, components, tasks and control-flow groups."""

    name: str
    parameters: Mapping[str, ParameterSpec] = field(default_factory=dict)
    components: Mapping[str, ComponentSpec] = field(default_factory=dict)
    tasks: Mapping[str, TaskSpec] = field(default_factory=dict)
    groups: Mapping[str, GroupSpec] = field(default_factory=dict)
    description: str = ""
    module: str | None = None
    ir_version: str = IR_VERSION

    def component_of(self, task: str) -> ComponentSpec:
        """The component a task calls."""
        return self.components[self.tasks[task].component]

    def groups_of(self, task: str) -> list[str]:
        """The groups a task is in, outermost first."""
        return self.group_chain(self.tasks[task].group)

    def group_chain(self, group: str | None) -> list[str]:
        """``group`` and its ancestors, outermost first (empty for ``None``)."""
        chain: list[str] = []
        while group is not None and group in self.groups and group not in chain:
            chain.append(group)
            group = self.groups[group].parent
        return chain[::-1]

    def iterating_groups_of(self, task: str) -> list[str]:
        """The ``parallel_for`` and ``loop`` groups a task is in, outermost first."""
        return [g for g in self.groups_of(task) if self.groups[g].iterates]

    def topological_order(self) -> list[str]:
        """Task names with every task after all of its dependencies (ties broken by name)."""
        remaining = {name: set(t.depends_on) for name, t in self.tasks.items()}
        order: list[str] = []
        while remaining:
            ready = sorted(n for n, deps in remaining.items() if not deps)
            if not ready:
                raise ValueError(f"Cycle among tasks {cycle_members(self.tasks)!r}")
            for name in ready:
                order.append(name)
                del remaining[name]
            for deps in remaining.values():
                deps.difference_update(ready)
        return order

    def downstream_of(self, task: str) -> set[str]:
        """Every task that depends, directly or not, on ``task``."""
        children: dict[str, set[str]] = {n: set() for n in self.tasks}
        for name, spec in self.tasks.items():
            for dep in spec.depends_on:
                children[dep].add(name)
        seen: set[str] = set()
        todo = [task]
        while todo:
            for child in children[todo.pop()]:
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        return seen


def cycle_members(tasks: Mapping[str, TaskSpec]) -> list[str]:
    """Tasks on a dependency cycle (or between two cycles), sorted; empty when there is none.

    What remains after repeatedly removing every task with no dependencies and every task
    nothing depends on (unknown dependencies are ignored).
    """
    deps = {n: set(t.depends_on) & set(tasks) for n, t in tasks.items()}
    changed = True
    while changed:
        users = {d for ds in deps.values() for d in ds}
        done = [n for n, ds in deps.items() if not ds or n not in users]
        changed = bool(done)
        for name in done:
            del deps[name]
        for ds in deps.values():
            ds.intersection_update(deps)
    return sorted(deps)
