"""Run search: the query a store answers with one page of runs (``search_runs``), the parsing of
its user-facing forms (``lr>=0.5``, ``-metric:auc``) and the run metric summary.

A run is a ``conveyor.PipelineRun`` context; the query filters and sorts on its properties
(``pipeline``, ``experiment``, ``state``, ``started_at``, ``lifecycle``, ``parameters``,
``metrics``) inside the database.

Example:
    >>> query = RunQuery(pipeline="basic", parameters=(parse_predicate("lr>=0.5"),),
    ...                  sort=parse_sort("-metric:auc"))
    >>> query.parameters[0].value, query.sort.key, query.sort.descending
    (0.5, 'metric:auc', True)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from conveyor.metadata.entities import ArtifactRecord, ContextRecord, EventType, ExecutionRecord

if TYPE_CHECKING:
    from conveyor.metadata.store import MetadataStore

__all__ = [
    "DEFAULT_LIMIT",
    "LIFECYCLES",
    "MAX_LIMIT",
    "METRICS",
    "OPERATORS",
    "SORT_KEYS",
    "Predicate",
    "RunGroup",
    "RunPage",
    "RunQuery",
    "RunSort",
    "check_field_name",
    "metrics_artifact_values",
    "newest_executions",
    "parse_predicate",
    "parse_sort",
    "run_metric_summary",
]

METRICS = "metrics"
"""The run property holding the run's final metric values, ``{name: last value}``."""

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

OPERATORS = ("=", "!=", "<", "<=", ">", ">=")
"""The comparison operators of a predicate."""

Lifecycle = Literal["active", "archived", "deleted", "all"]
LIFECYCLES: tuple[Lifecycle, ...] = ("active", "archived", "deleted", "all")
"""``active``: runs with no lifecycle property; ``archived`` / ``deleted``; ``all``."""

SORT_KEYS = ("started_at", "finished_at", "duration", "state", "run_id", "pipeline")
"""Sort keys besides ``param:NAME`` and ``metric:NAME``."""

# A parameter or metric name: it becomes part of a JSON path (bound, and quoted in it), so
# nothing that could end the quoting or start another path step is allowed.
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/@+\-]{0,127}$")
_PREDICATE = re.compile(r"^\s*(?P<name>[^<>=!\s]+)\s*(?P<op>!=|<=|>=|=|<|>)\s*(?P<value>.*?)\s*$")


def check_field_name(name: str, what: str = "parameter") -> str:
    """``name`` if it is a safe parameter or metric name, else ValueError saying why."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"{what.capitalize()} name {name!r} is not allowed: use letters, digits and "
            "_ . : / @ + - (at most 128 characters, starting with a letter, digit or _)."
        )
    return name


@dataclass(frozen=True)
class Predicate:
    """``NAME OP VALUE`` on a run's parameter or final metric.

    A number is compared with numbers (``lr>=0.5`` never matches the string ``"0.7"``), a
    string with strings, ``true``/``false`` with booleans (``=`` and ``!=`` only). A run
    without the field never matches.
    """

    name: str
    op: str
    value: float | str | bool

    def __post_init__(self) -> None:
        check_field_name(self.name)
        if self.op not in OPERATORS:
            raise ValueError(
                f"Unknown operator {self.op!r} in a filter on {self.name!r}; use one of "
                f"{' '.join(OPERATORS)}."
            )
        if isinstance(self.value, bool) and self.op not in ("=", "!="):
            raise ValueError(
                f"A filter on {self.name!r} compares a boolean with {self.op!r}; booleans "
                "take = or != only."
            )
        if isinstance(self.value, float) and not math.isfinite(self.value):
            raise ValueError(f"A filter on {self.name!r} needs a finite number, got {self.value}.")

    def __str__(self) -> str:
        value = self.value
        shown = str(value).lower() if isinstance(value, bool) else value
        return f"{self.name}{self.op}{shown}"


def _value(text: str) -> float | str | bool:
    """A predicate's value: a number when it reads as one, a quoted or bare string otherwise."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a finite number; filters compare finite numbers.")
    return number


def parse_predicate(text: str) -> Predicate:
    """``"lr>=0.5"`` -> ``Predicate("lr", ">=", 0.5)``; ``name='adam'`` compares strings.

    Raises:
        ValueError: no operator, an unknown one (``=>``, ``==``), a bad name or no value.
    """
    match = _PREDICATE.match(text or "")
    if match is None:
        raise ValueError(
            f"Cannot read the filter {text!r}: write NAME OP VALUE with OP one of "
            f"{' '.join(OPERATORS)}, e.g. lr>=0.01 or optimizer=adam."
        )
    name, op, raw = match["name"], match["op"], match["value"]
    if raw[:1] in ("=", "<", ">", "!"):
        raise ValueError(
            f"Unknown operator in the filter {text!r}: use one of {' '.join(OPERATORS)}."
        )
    if raw == "":
        raise ValueError(f"The filter {text!r} has no value after {op!r}.")
    return Predicate(check_field_name(name), op, _value(raw))


@dataclass(frozen=True)
class RunSort:
    """A sort key (one of :data:`SORT_KEYS`, ``param:NAME`` or ``metric:NAME``) and direction.
    Ties are broken by the run's id, in the same direction."""

    key: str = "started_at"
    descending: bool = True

    def __post_init__(self) -> None:
        kind, sep, name = self.key.partition(":")
        if sep and kind in ("param", "metric"):
            check_field_name(name, "metric" if kind == "metric" else "parameter")
        elif self.key not in SORT_KEYS:
            raise ValueError(
                f"Cannot sort runs by {self.key!r}: use one of {', '.join(SORT_KEYS)}, "
                "param:NAME or metric:NAME (prefix - for descending)."
            )

    def __str__(self) -> str:
        return f"{'-' if self.descending else ''}{self.key}"


def parse_sort(text: str) -> RunSort:
    """``"-started_at"`` -> newest first; ``"param:lr"`` -> ascending by the parameter ``lr``.

    Raises:
        ValueError: an unknown key or a bad name.
    """
    text = (text or "").strip()
    descending = text.startswith("-")
    key = text.lstrip("+-").strip()
    return RunSort(key or "started_at", descending)


@dataclass(frozen=True)
class RunQuery:
    """What :meth:`MetadataStore.search_runs` looks for; every field narrows the result.

    Args:
        pipeline: the run's pipeline name.
        experiment: the run's experiment.
        states: any of these run states (RUNNING, COMPLETE, FAILED, CANCELED); empty: all.
        started_after: runs started at or after this time (epoch seconds).
        started_before: runs started before this time (epoch seconds).
        lifecycle: ``active`` (default: neither archived nor deleted), ``archived``,
            ``deleted`` or ``all``.
        parameters: predicates on the run's parameters (all must hold).
        metrics: predicates on the run's final metric values (all must hold).
        text: a case-insensitive substring of the run id.
        sort: the order (default: newest first).
        limit: page size, 1 to :data:`MAX_LIMIT`.
        offset: runs skipped before the page.

    Raises:
        ValueError: a bad lifecycle, limit or offset.
    """

    pipeline: str | None = None
    experiment: str | None = None
    states: tuple[str, ...] = ()
    started_after: float | None = None
    started_before: float | None = None
    lifecycle: Lifecycle = "active"
    parameters: tuple[Predicate, ...] = ()
    metrics: tuple[Predicate, ...] = ()
    text: str | None = None
    sort: RunSort = field(default_factory=RunSort)
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    def __post_init__(self) -> None:
        if self.lifecycle not in LIFECYCLES:
            raise ValueError(
                f"Unknown lifecycle {self.lifecycle!r}: use one of {', '.join(LIFECYCLES)}."
            )
        if isinstance(self.limit, bool) or not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, got {self.limit!r}.")
        if isinstance(self.offset, bool) or self.offset < 0:
            raise ValueError(f"offset must be 0 or more, got {self.offset!r}.")


@dataclass(frozen=True)
class RunGroup:
    """How many runs share an experiment, a pipeline and a state, and the newest start."""

    experiment: str | None
    pipeline: str | None
    state: str | None
    count: int
    last_started_at: float | None


@dataclass(frozen=True)
class RunPage:
    """One page of runs (their contexts, in the query's order) and how many runs match."""

    runs: tuple[ContextRecord, ...]
    total: int


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def newest_executions(store: MetadataStore, context_id: int) -> dict[str, ExecutionRecord]:
    """``{task instance: its newest execution}`` in a context (a retry's attempt replaces the
    attempt before it). One query."""
    newest: dict[str, ExecutionRecord] = {}
    for execution in store.list_executions(context_id=context_id):  # newest first
        newest.setdefault(execution.name, execution)
    return newest


def metrics_artifact_values(task: str, output: str, artifact: ArtifactRecord) -> dict[str, Any]:
    """The numbers a ``conveyor.Metrics`` artifact holds, named ``TASK.OUTPUT.KEY`` as
    ``conveyor runs compare`` and the run lists name them (empty for any other type)."""
    if artifact.type_name.split("@")[0] != "conveyor.Metrics":
        return {}
    return {
        f"{task}.{output}.{key}": value
        for key, value in sorted(dict(artifact.properties).items())
        if _is_number(value)
    }


def run_metric_summary(store: MetadataStore, context_id: int) -> dict[str, float]:
    """A run's final metric values, ``{name: last value}``: the last step of each metric the
    run logged, and ``TASK.OUTPUT.NAME`` for each number in a ``conveyor.Metrics`` artifact
    its tasks wrote (their newest executions), as ``conveyor runs compare`` names them.

    A bounded number of queries whatever the size of the run (no metric point is loaded).
    """
    summary: dict[str, float] = {}
    for entry in store.metric_summaries(context_id):  # the value at each metric's last step
        if entry["last_value"] is not None:
            summary[entry["name"]] = float(entry["last_value"])
    by_id = {e.id: e.name for e in newest_executions(store, context_id).values()}
    if not by_id:
        return summary
    events = [e for e in store.get_events(execution_ids=list(by_id)) if e.type == EventType.OUTPUT]
    artifacts = {a.id: a for a in store.get_artifacts({e.artifact_id for e in events})}
    for event in events:
        art = artifacts.get(event.artifact_id)
        if art is None:
            continue
        task = by_id[event.execution_id]
        for name, value in metrics_artifact_values(task, event.path, art).items():
            if math.isfinite(value):
                summary[name] = float(value)
    return summary
