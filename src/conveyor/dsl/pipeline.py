"""``@pipeline``: run the pipeline function to build its tasks, and compile them to the IR."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any, overload

from conveyor._internal.importing import definition_site
from conveyor._internal.names import name_problem
from conveyor.dsl.annotations import (
    coerce_value,
    json_literal_matches,
    json_type_of,
    literal_values,
)
from conveyor.dsl.builder import Builder, building
from conveyor.dsl.control import check_finished
from conveyor.dsl.tasks import PipelineParam, ref_tasks
from conveyor.errors import DefinitionError, InvalidNameError, PipelineValidationError
from conveyor.ir.spec import (
    MISSING,
    ParameterSpec,
    PipelineSpec,
    TaskSpec,
    cycle_members,
)
from conveyor.ir.validate import validate

__all__ = ["Pipeline", "build_pipeline", "pipeline"]


class Pipeline:
    """A pipeline definition. ``.spec`` compiles it to the IR (validated, deterministic)."""

    def __init__(self, func: Callable[..., Any], name: str, description: str):
        problem = name_problem("pipeline name", name)
        if problem is not None:
            source_file, lineno = definition_site(func)
            raise InvalidNameError(
                f"{problem}. Pass another @pipeline(name=...)",
                source_file=source_file,
                lineno=lineno,
            )
        self.python_func = func
        self.name = name
        self.description = description
        self.__doc__ = func.__doc__
        self.__wrapped__ = func
        self.__module__ = func.__module__
        self._spec: PipelineSpec | None = None

    @property
    def spec(self) -> PipelineSpec:
        """The compiled IR of this pipeline (built once, then cached)."""
        if self._spec is None:
            self._spec = build_pipeline(self)
        return self._spec

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise DefinitionError(
            f"Pipeline {self.name!r} is not called directly. Run it with "
            f"`conveyor run FILE.py` or conveyor.run({self.python_func.__name__}, params)"
        )

    def __repr__(self) -> str:
        return f"<pipeline {self.name!r}>"


def _pipeline_params(p: Pipeline) -> dict[str, ParameterSpec]:
    func = p.python_func
    source_file, lineno = definition_site(func)
    try:
        hints = typing.get_type_hints(func)
    except Exception as exc:
        raise DefinitionError(
            f"Pipeline {p.name!r}: cannot resolve its type annotations ({exc})",
            source_file=source_file,
            lineno=lineno,
        ) from exc
    params: dict[str, ParameterSpec] = {}
    for name, param in inspect.signature(func).parameters.items():
        has_default = param.default is not param.empty
        if name in hints:
            jt = json_type_of(hints[name])
        elif has_default and param.default is not None:
            jt = json_type_of(type(param.default))
        else:
            jt = None
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise DefinitionError(
                f"Pipeline {p.name!r}: *args/**kwargs are not allowed; declare every pipeline "
                "parameter explicitly",
                source_file=source_file,
                lineno=lineno,
            )
        if jt is None:
            raise DefinitionError(
                f"Pipeline {p.name!r}: parameter {name!r} needs a JSON type annotation "
                "(str, int, float, bool, list, dict) or a default value",
                source_file=source_file,
                lineno=lineno,
            )
        enum = literal_values(hints[name]) if name in hints else None
        default = MISSING
        if has_default:
            bad = not json_literal_matches(param.default, jt[0], jt[1]) or (
                enum is not None and param.default is not None and param.default not in enum
            )
            if bad:
                expected = f"one of {list(enum)!r}" if enum is not None else f"a {jt[0]}"
                raise DefinitionError(
                    f"Pipeline {p.name!r}: default {param.default!r} of {name!r} is not {expected}",
                    source_file=source_file,
                    lineno=lineno,
                )
            default = coerce_value(param.default, jt[0])
        params[name] = ParameterSpec(type=jt[0], default=default, nullable=jt[1], enum=enum)
    return params


def build_pipeline(p: Pipeline) -> PipelineSpec:
    """Run the pipeline function with placeholders and return its validated IR."""
    params = _pipeline_params(p)
    with building(p.name, params) as builder:
        p.python_func(**{k: PipelineParam(k, v) for k, v in params.items()})
    source_file, lineno = definition_site(p.python_func)
    if not builder.tasks:
        raise DefinitionError(
            f"Pipeline {p.name!r} has no tasks: call components inside it",
            source_file=source_file,
            lineno=lineno,
        )
    check_finished(builder)
    tasks = _task_specs(builder)
    spec = PipelineSpec(
        name=p.name,
        description=p.description,
        module=p.python_func.__module__,
        parameters=params,
        components={k: c.spec for k, c in sorted(builder.components.items())},
        tasks=tasks,
        groups={k: g.to_spec() for k, g in sorted(builder.groups.items())},
    )
    cycle = cycle_members(tasks)
    if cycle:
        dynamic = any(
            ref_tasks(ref) & set(cycle)
            for name in cycle
            for ref in builder.tasks[name].dynamic.values()
        )
        through, fix = (
            ("a run-time option", "the set_resources/set_retry/set_timeout call that closes it")
            if dynamic
            else (".after()", "the .after() calls")
        )
        raise PipelineValidationError(
            f"Pipeline {p.name!r} has a dependency cycle through {through} among tasks "
            f"{cycle!r}. Remove one of {fix}",
            source_file=source_file,
            lineno=lineno,
        )
    validate(spec)
    return spec


def _task_specs(builder: Builder) -> dict[str, TaskSpec]:
    return {
        name: TaskSpec(
            name=name,
            component=t.component.name,
            inputs=dict(sorted(t.inputs.items())),
            depends_on=tuple(sorted(t.dependencies())),
            group=t.group,
            retry=t.retry,
            timeout_seconds=t.timeout_seconds,
            resources=t.resources,
            cache=t.cache,
            display_name=t.display_name,
            dynamic=dict(sorted(t.dynamic.items())),
        )
        for name, t in sorted(builder.tasks.items())
    }


@overload
def pipeline(func: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Declare a pipeline: a function whose parameters are pipeline parameters and which calls
    components to add tasks.

    Example:
        >>> from conveyor import component, pipeline
        >>> @component
        ... def add(a: int, b: int = 1) -> int:
        ...     return a + b
        >>> @pipeline(name="sums")
        ... def sums(a: int = 1):
        ...     add(a=add(a=a).output)
        >>> sorted(sums.spec.tasks)
        ['add', 'add-2']
    """

    def wrap(f: Callable[..., Any]) -> Pipeline:
        doc = inspect.cleandoc(f.__doc__ or "").split("\n\n")[0]
        return Pipeline(f, name or f.__name__.replace("_", "-"), description or doc)

    return wrap(func) if func is not None else wrap
