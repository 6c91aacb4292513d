"""``@component``: turn a typed Python function into a reusable pipeline step."""

from __future__ import annotations

import inspect
import os
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, overload

from conveyor._internal.importing import definition_site
from conveyor._internal.names import name_problem
from conveyor.dsl.annotations import (
    artifact_class,
    coerce_value,
    json_literal_matches,
    json_type_of,
    literal_values,
    split_annotation,
)
from conveyor.errors import DefinitionError, InvalidNameError
from conveyor.ir.spec import (
    MISSING,
    ArtifactSpec,
    ComponentSpec,
    Implementation,
    ParameterSpec,
    Resources,
    RetryPolicy,
)

__all__ = ["Component", "component"]

SINGLE_OUTPUT = "Output"
"""Name of the output parameter holding a component's return value."""


def module_root(module_name: str, source_file: str | None) -> str | None:
    """The folder a module was imported from (so ``a.b.c`` in ``/x/a/b/c.py`` gives ``/x``)."""
    if source_file is None:
        return None
    path = os.path.abspath(source_file)
    parts = module_name.split(".")
    root = os.path.dirname(path)
    if os.path.basename(path) == "__init__.py":
        root = os.path.dirname(root)
    for _ in parts[:-1]:
        root = os.path.dirname(root)
    return root


class Component:
    """A component: a typed function plus its :class:`ComponentSpec`.

    Call it inside a ``@pipeline`` function to add a task; use :attr:`python_func` to call the
    plain function (in a notebook or a unit test).
    """

    def __init__(self, func: Callable[..., Any], spec: ComponentSpec, output_names: list[str]):
        self.python_func = func
        self.spec = spec
        self.name = spec.name
        self.plan_outputs: Callable[..., Mapping[str, str]] | None = None
        self.cache_inputs: Callable[..., Mapping[str, str]] | None = None
        self.check_params: Callable[[Mapping[str, Any]], None] | None = None
        self.in_process = False
        self._output_names = output_names
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        self.__qualname__ = func.__qualname__
        self.__module__ = func.__module__
        self.__wrapped__ = func

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from conveyor.dsl.tasks import add_task  # the pipeline builder sits above components

        frame = sys._getframe(1)
        if args:
            raise DefinitionError(
                f"Component {self.name!r} takes its inputs by keyword, got {len(args)} "
                f"positional argument(s). Call it as {self.__name__}(NAME=value, ...)",
                source_file=frame.f_code.co_filename,
                lineno=frame.f_lineno,
            )
        return add_task(self, kwargs, frame)

    def __repr__(self) -> str:
        return f"<component {self.name!r} from {self.spec.implementation.module}>"


@overload
def component(func: Callable[..., Any], /) -> Component: ...


@overload
def component(
    *,
    name: str | None = None,
    retries: int = 0,
    retry_backoff_seconds: float = 1.0,
    retry_backoff_factor: float = 2.0,
    retry_backoff_max_seconds: float = 60.0,
    timeout: float | None = None,
    cpu: float | None = None,
    memory: str | None = None,
    gpu: int = 0,
    gpu_type: str | None = None,
    cache: bool = True,
    cache_env: Sequence[str] = (),
    packages: Sequence[str] = (),
    base_image: str | None = None,
    plan_outputs: Callable[..., Mapping[str, str]] | None = None,
    cache_inputs: Callable[..., Mapping[str, str]] | None = None,
    check_params: Callable[[Mapping[str, Any]], None] | None = None,
    in_process: bool = False,
) -> Callable[[Callable[..., Any]], Component]: ...


def component(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    retries: int = 0,
    retry_backoff_seconds: float = 1.0,
    retry_backoff_factor: float = 2.0,
    retry_backoff_max_seconds: float = 60.0,
    timeout: float | None = None,
    cpu: float | None = None,
    memory: str | None = None,
    gpu: int = 0,
    gpu_type: str | None = None,
    cache: bool = True,
    cache_env: Sequence[str] = (),
    packages: Sequence[str] = (),
    base_image: str | None = None,
    plan_outputs: Callable[..., Mapping[str, str]] | None = None,
    cache_inputs: Callable[..., Mapping[str, str]] | None = None,
    check_params: Callable[[Mapping[str, Any]], None] | None = None,
    in_process: bool = False,
) -> Component | Callable[[Callable[..., Any]], Component]:
    """Declare a component from a typed function.

    Inputs are ``Input[T]`` artifacts and JSON-typed parameters (with defaults); outputs are
    ``Output[T]`` artifacts and the return value (the output parameter ``"Output"``, or one
    output parameter per field of a ``NamedTuple``).

    Args:
        name: component name (default: the function's name).
        retries: extra attempts after a failure, with exponential backoff.
        retry_backoff_seconds: first wait between attempts.
        retry_backoff_factor: multiplier of the wait after each attempt.
        retry_backoff_max_seconds: cap of the wait.
        timeout: seconds after which an attempt is stopped and fails.
        cpu: CPUs to reserve on backends that schedule resources.
        memory: memory to reserve, e.g. ``"4Gi"``.
        gpu: GPUs to reserve.
        gpu_type: accelerator type, e.g. ``"nvidia-l4"``.
        cache: whether results may be reused from the cache.
        cache_env: names of environment variables that affect the output (part of the cache key).
        packages: pip requirements a container backend installs (part of the cache key).
        base_image: container image for container backends.
        plan_outputs: for a step that always runs (``cache=False``, e.g. an importer): a
            function of the step's parameters returning each output artifact's content
            digest without running the step, so ``conveyor plan`` can decide the steps
            after it. Not part of the IR; only the dry run uses it.
        cache_inputs: for a step that reads data outside the artifact store (files named
            by a parameter): a function of the step's parameters returning a digest per
            external input (``{"data/a.csv": "sha256:..."}``). The digests join the cache
            key, so the step is reused while those bytes are the same and reruns when one
            changes ("input file:data/a.csv: content changed"). Not part of the IR.
        check_params: a function called when a pipeline adds the task, with the task's
            literal parameter values (defaults included; values bound to pipeline parameters
            or upstream outputs are left out); a ``ValueError`` it raises refuses the pipeline
            at the caller's line, so a bad name fails before anything runs. Not part of the IR.
        in_process: run this step in the orchestrator's own process, as ``--in-process``
            runs every step, never in a worker: for a short step that only reads the
            metadata store (a resolver such as ``latest_blessed_model``), which a worker
            would cost more to start than the step takes. Results are the same either way.
            Not part of the IR; a local run honours it.

    Example:
        >>> from conveyor import Dataset, Output, component
        >>> @component(retries=2, timeout=60)
        ... def ingest(path: str, data: Output[Dataset]) -> int:
        ...     return 0
        >>> sorted(ingest.spec.output_artifacts)
        ['data']
    """
    retry = RetryPolicy(
        max_retries=retries,
        backoff_seconds=retry_backoff_seconds,
        backoff_factor=retry_backoff_factor,
        backoff_max_seconds=retry_backoff_max_seconds,
    )
    resources = Resources(cpu=cpu, memory=memory, gpu=gpu, gpu_type=gpu_type)

    def wrap(f: Callable[..., Any]) -> Component:
        built = _build(
            f,
            name=name,
            retry=retry,
            timeout=timeout,
            resources=resources,
            cache=cache,
            cache_env=tuple(cache_env),
            packages=tuple(packages),
            base_image=base_image,
        )
        built.plan_outputs = plan_outputs
        built.cache_inputs = cache_inputs
        built.check_params = check_params
        built.in_process = in_process
        return built

    return wrap(func) if func is not None else wrap


def _build(
    func: Callable[..., Any],
    *,
    name: str | None,
    retry: RetryPolicy,
    timeout: float | None,
    resources: Resources,
    cache: bool,
    cache_env: tuple[str, ...],
    packages: tuple[str, ...],
    base_image: str | None,
) -> Component:
    source_file, lineno = definition_site(func)

    def fail(message: str) -> DefinitionError:
        return DefinitionError(message, source_file=source_file, lineno=lineno)

    if not callable(func) or not inspect.isfunction(func):
        raise TypeError(f"@component decorates a function, got {func!r}")
    cname = name or func.__name__
    problem = name_problem("component name", cname)
    if problem is not None:
        raise InvalidNameError(
            f"{problem}. Pass another @component(name=...)", source_file=source_file, lineno=lineno
        )
    if "<locals>" in func.__qualname__:
        raise fail(
            f"Component {cname!r} is defined inside a function ({func.__qualname__}). Define "
            "components at module level, so worker processes and remote runners can import them"
        )
    for problem in _option_problems(retry, timeout, resources):
        raise fail(f"Component {cname!r}: {problem}")
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception as exc:  # NameError for an unresolvable forward reference, and friends
        raise fail(f"Component {cname!r}: cannot resolve its type annotations ({exc})") from exc

    in_params: dict[str, ParameterSpec] = {}
    in_arts: dict[str, ArtifactSpec] = {}
    out_arts: dict[str, ArtifactSpec] = {}
    for pname, param in inspect.signature(func).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise fail(
                f"Component {cname!r}: *args/**kwargs are not allowed; "
                "declare every input as an explicit keyword parameter"
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise fail(
                f"Component {cname!r}: parameter {pname!r} is positional-only, but a pipeline "
                "binds inputs by keyword. Remove the '/' from the signature"
            )
        if pname not in hints:
            raise fail(
                f"Component {cname!r}: parameter {pname!r} has no type annotation. "
                "Annotate it, e.g. `x: int = 0` or `data: Input[Dataset]`"
            )
        kind, tp = split_annotation(hints[pname])
        if kind in ("input", "output"):
            found = artifact_class(tp)
            if found is None:
                raise fail(
                    f"Component {cname!r}: {pname!r} is {kind.title()}[{tp!r}], but {tp!r} is "
                    "not an artifact type. Use Dataset, Model, Metrics or a subclass of Artifact"
                )
            cls, is_list = found
            if param.default is not param.empty and param.default is not None:
                raise fail(
                    f"Component {cname!r}: artifact {pname!r} has the default "
                    f"{param.default!r}; an artifact input can only default to None (optional)"
                )
            optional = param.default is None
            if kind == "output":
                if is_list:
                    raise fail(f"Component {cname!r}: output {pname!r} cannot be a list")
                out_arts[pname] = ArtifactSpec(type=cls.type_id())
            else:
                in_arts[pname] = ArtifactSpec(
                    type=cls.type_id(), optional=optional, is_list=is_list
                )
            continue
        jt = json_type_of(tp)
        if jt is None:
            raise fail(
                f"Component {cname!r}: parameter {pname!r} has type {tp!r}, which is not "
                "JSON-serialisable. Parameters are str, int, float, bool, list or dict; pass "
                "data between steps as artifacts, e.g. Input[Dataset] / Output[Dataset] "
                "(Input[list[Dataset]] to take many)"
            )
        json_type, nullable = jt
        enum = literal_values(tp)
        default = MISSING
        if param.default is not param.empty:
            if not json_literal_matches(param.default, json_type, nullable):
                raise fail(
                    f"Component {cname!r}: default {param.default!r} of parameter {pname!r} is "
                    f"not a valid {json_type}"
                )
            if enum is not None and param.default is not None and param.default not in enum:
                raise fail(
                    f"Component {cname!r}: default {param.default!r} of parameter {pname!r} is "
                    f"not one of its allowed values {list(enum)!r}"
                )
            default = coerce_value(param.default, json_type)
        in_params[pname] = ParameterSpec(
            type=json_type, default=default, nullable=nullable, enum=enum
        )

    out_params, output_names = _outputs(cname, hints.get("return", type(None)), fail)
    clash = set(out_params) & (set(in_params) | set(in_arts) | set(out_arts))
    if clash:
        raise fail(f"Component {cname!r}: output name(s) {sorted(clash)!r} clash with inputs")
    module = func.__module__
    root = module_root(module, source_file)
    rel_source = (
        os.path.relpath(os.path.abspath(source_file), root).replace(os.sep, "/")
        if source_file and root
        else None
    )
    spec = ComponentSpec(
        name=cname,
        description=inspect.cleandoc(func.__doc__ or "").split("\n\n")[0],
        implementation=Implementation(
            module=module, function=func.__qualname__, source_file=rel_source
        ),
        input_parameters=in_params,
        input_artifacts=in_arts,
        output_parameters=out_params,
        output_artifacts=out_arts,
        retry=retry,
        timeout_seconds=timeout,
        resources=resources,
        cache=cache,
        cache_env=cache_env,
        packages=packages,
        base_image=base_image,
    )
    return Component(func, spec, output_names + list(out_arts))


def _option_problems(retry: RetryPolicy, timeout: float | None, resources: Resources) -> list[str]:
    problems = []
    if retry.max_retries < 0:
        problems.append(f"retries must be >= 0, got {retry.max_retries}")
    if retry.backoff_seconds < 0 or retry.backoff_max_seconds < 0:
        problems.append("retry backoff seconds must be >= 0")
    if retry.backoff_factor < 1:
        problems.append(f"retry_backoff_factor must be >= 1, got {retry.backoff_factor!r}")
    if timeout is not None and timeout <= 0:
        problems.append(f"timeout must be > 0 seconds, got {timeout!r}")
    if resources.cpu is not None and resources.cpu <= 0:
        problems.append(f"cpu must be > 0, got {resources.cpu!r}")
    if resources.gpu < 0:
        problems.append(f"gpu must be >= 0, got {resources.gpu!r}")
    return problems


def _outputs(
    cname: str, ret: Any, fail: Callable[[str], DefinitionError]
) -> tuple[dict[str, ParameterSpec], list[str]]:
    if ret is None or ret is type(None):
        return {}, []
    fields: Mapping[str, Any] | None = getattr(ret, "__annotations__", None)
    if isinstance(ret, type) and issubclass(ret, tuple) and hasattr(ret, "_fields") and fields:
        try:
            # resolves string annotations (a module with ``from __future__ import annotations``)
            fields = typing.get_type_hints(ret)
        except Exception as exc:  # NameError for an unresolvable forward reference, and friends
            raise fail(
                f"Component {cname!r}: cannot resolve output types of {ret!r} ({exc})"
            ) from exc
        out: dict[str, ParameterSpec] = {}
        for fname, ftype in fields.items():
            jt = json_type_of(ftype)
            if jt is None:
                raise fail(f"Component {cname!r}: output {fname!r} type {ftype!r} is not JSON")
            out[fname] = ParameterSpec(type=jt[0], nullable=jt[1])
        return out, list(out)
    jt = json_type_of(ret)
    if jt is None:
        raise fail(
            f"Component {cname!r}: return type {ret!r} is not JSON-serialisable. Return a str, "
            "int, float, bool, list, dict or NamedTuple, or write an Output[...] artifact"
        )
    return {SINGLE_OUTPUT: ParameterSpec(type=jt[0], nullable=jt[1])}, [SINGLE_OUTPUT]
