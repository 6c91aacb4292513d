"""Versioned, deterministic JSON for the IR: the same pipeline always gives the same bytes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from conveyor._internal.version import VERSION
from conveyor.errors import CompilationError
from conveyor.ir.spec import (
    IR_VERSION,
    MISSING,
    ArtifactSpec,
    CollectedRef,
    ComponentSpec,
    Condition,
    Constant,
    GroupSpec,
    Implementation,
    ListRef,
    LoopCarry,
    LoopCarryRef,
    LoopItemRef,
    OneOfRef,
    ParameterSpec,
    PipelineParameterRef,
    PipelineSpec,
    Resources,
    RetryPolicy,
    RunStatusRef,
    TaskOutputRef,
    TaskSpec,
    ValueRef,
)

__all__ = ["dumps", "load_file", "loads", "spec_from_dict", "spec_to_dict"]

WRITER_KEY = "conveyor_version"
"""Top-level key naming the Conveyor release that wrote a document (absent in older ones)."""


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _param_to_dict(p: ParameterSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"type": p.type}
    if p.has_default:
        out["default"] = p.default
    if p.nullable:
        out["nullable"] = True
    if p.description:
        out["description"] = p.description
    if p.enum is not None:
        out["enum"] = list(p.enum)
    return out


def _param_from_dict(d: Mapping[str, Any]) -> ParameterSpec:
    enum = d.get("enum")
    return ParameterSpec(
        type=d["type"],
        default=d.get("default", MISSING),
        nullable=bool(d.get("nullable", False)),
        description=d.get("description", ""),
        enum=tuple(enum) if enum is not None else None,
    )


def _artifact_to_dict(a: ArtifactSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"type": a.type}
    if a.optional:
        out["optional"] = True
    if a.is_list:
        out["is_list"] = True
    if a.description:
        out["description"] = a.description
    return out


def _artifact_from_dict(d: Mapping[str, Any]) -> ArtifactSpec:
    return ArtifactSpec(
        type=d["type"],
        optional=bool(d.get("optional", False)),
        is_list=bool(d.get("is_list", False)),
        description=d.get("description", ""),
    )


def _float(value: float | None) -> float | None:
    # Seconds and CPUs are written as floats whatever the user typed (60 or 60.0), so the same
    # pipeline always gives the same bytes and a document reads back to identical bytes.
    return None if value is None else float(value)


def _retry_to_dict(r: RetryPolicy) -> dict[str, Any]:
    return {
        "max_retries": r.max_retries,
        "backoff_seconds": float(r.backoff_seconds),
        "backoff_factor": float(r.backoff_factor),
        "backoff_max_seconds": float(r.backoff_max_seconds),
    }


def _retry_from_dict(d: Mapping[str, Any]) -> RetryPolicy:
    return RetryPolicy(
        max_retries=int(d.get("max_retries", 0)),
        backoff_seconds=float(d.get("backoff_seconds", 1.0)),
        backoff_factor=float(d.get("backoff_factor", 2.0)),
        backoff_max_seconds=float(d.get("backoff_max_seconds", 60.0)),
    )


def _resources_to_dict(r: Resources) -> dict[str, Any]:
    return _drop_none(
        {"cpu": _float(r.cpu), "memory": r.memory, "gpu": r.gpu, "gpu_type": r.gpu_type}
    )


def _resources_from_dict(d: Mapping[str, Any]) -> Resources:
    return Resources(
        cpu=_float(d.get("cpu")),
        memory=d.get("memory"),
        gpu=int(d.get("gpu", 0)),
        gpu_type=d.get("gpu_type"),
    )


def ref_to_dict(ref: ValueRef | Condition) -> dict[str, Any]:
    """Serialise a value reference or a condition."""
    if isinstance(ref, Constant):
        return {"constant": ref.value}
    if isinstance(ref, PipelineParameterRef):
        return {"pipeline_parameter": ref.name}
    if isinstance(ref, TaskOutputRef):
        return {"task_output": {"task": ref.task, "output": ref.output}}
    if isinstance(ref, LoopItemRef):
        return {"loop_item": _drop_none({"group": ref.group, "key": ref.key})}
    if isinstance(ref, CollectedRef):
        return {"collected": {"task": ref.task, "output": ref.output, "group": ref.group}}
    if isinstance(ref, ListRef):
        return {"list": [ref_to_dict(i) for i in ref.items]}
    if isinstance(ref, RunStatusRef):
        return {"run_status": {}}
    if isinstance(ref, LoopCarryRef):
        return {"loop_carry": {"group": ref.group, "name": ref.name}}
    if isinstance(ref, OneOfRef):
        return {"one_of": [ref_to_dict(i) for i in ref.items]}
    if isinstance(ref, Condition):
        return {"op": ref.op, "args": [ref_to_dict(a) for a in ref.args]}
    raise CompilationError(f"Cannot serialise value reference {ref!r}")


_REF_KINDS = (
    "collected",
    "constant",
    "list",
    "loop_carry",
    "loop_item",
    "one_of",
    "pipeline_parameter",
    "run_status",
    "task_output",
)


def ref_from_dict(d: Mapping[str, Any]) -> ValueRef | Condition:
    """Read a value reference (an object with exactly one kind key) or a condition."""
    if not isinstance(d, Mapping):
        raise CompilationError(f"Expected a value reference object in IR, got {d!r}")
    if set(d) == {"op", "args"}:
        if not isinstance(d["args"], list):
            raise CompilationError(f"Condition arguments must be a list, got {d['args']!r}")
        return Condition(d["op"], tuple(ref_from_dict(a) for a in d["args"]))
    if len(d) != 1 or next(iter(d)) not in _REF_KINDS:
        raise CompilationError(
            f"Unknown value reference {dict(d)!r} in IR: expected an object with exactly one of "
            f"the keys {list(_REF_KINDS)!r}, or a condition {{'op': ..., 'args': [...]}}"
        )
    ((kind, body),) = d.items()
    if kind == "constant":
        return Constant(body)
    if kind == "pipeline_parameter":
        return PipelineParameterRef(body)
    if kind == "task_output":
        return TaskOutputRef(body["task"], body["output"])
    if kind == "loop_item":
        return LoopItemRef(body["group"], body.get("key"))
    if kind == "collected":
        return CollectedRef(body["task"], body["output"], body["group"])
    if kind in ("list", "one_of"):
        if not isinstance(body, list):
            raise CompilationError(f"A {kind} reference holds a list, got {body!r}")
        items = tuple(_value_ref(i) for i in body)
        return ListRef(items) if kind == "list" else OneOfRef(items)
    if kind == "loop_carry":
        return LoopCarryRef(body["group"], body["name"])
    return RunStatusRef()


def _value_ref(d: Mapping[str, Any]) -> ValueRef:
    ref = ref_from_dict(d)
    if isinstance(ref, Condition):
        raise CompilationError(f"Expected a value reference, got a condition {dict(d)!r}")
    return ref


def _condition(d: Mapping[str, Any] | None) -> Condition | None:
    if d is None:
        return None
    ref = ref_from_dict(d)
    if not isinstance(ref, Condition):
        raise CompilationError(f"Expected a condition, got {dict(d)!r}")
    return ref


def _component_to_dict(c: ComponentSpec) -> dict[str, Any]:
    return {
        "name": c.name,
        "description": c.description,
        "implementation": {
            "python": _drop_none(
                {
                    "module": c.implementation.module,
                    "function": c.implementation.function,
                    "source_file": c.implementation.source_file,
                }
            )
        },
        "inputs": {
            "parameters": {k: _param_to_dict(v) for k, v in c.input_parameters.items()},
            "artifacts": {k: _artifact_to_dict(v) for k, v in c.input_artifacts.items()},
        },
        "outputs": {
            "parameters": {k: _param_to_dict(v) for k, v in c.output_parameters.items()},
            "artifacts": {k: _artifact_to_dict(v) for k, v in c.output_artifacts.items()},
        },
        "options": _drop_none(
            {
                "retry": _retry_to_dict(c.retry),
                "timeout_seconds": _float(c.timeout_seconds),
                "resources": _resources_to_dict(c.resources),
                "cache": c.cache,
                "cache_env": list(c.cache_env),
                "packages": list(c.packages),
                "base_image": c.base_image,
            }
        ),
    }


def _component_from_dict(d: Mapping[str, Any]) -> ComponentSpec:
    impl = d["implementation"]["python"]
    opts = d.get("options", {})
    return ComponentSpec(
        name=d["name"],
        description=d.get("description", ""),
        implementation=Implementation(impl["module"], impl["function"], impl.get("source_file")),
        input_parameters={k: _param_from_dict(v) for k, v in d["inputs"]["parameters"].items()},
        input_artifacts={k: _artifact_from_dict(v) for k, v in d["inputs"]["artifacts"].items()},
        output_parameters={k: _param_from_dict(v) for k, v in d["outputs"]["parameters"].items()},
        output_artifacts={k: _artifact_from_dict(v) for k, v in d["outputs"]["artifacts"].items()},
        retry=_retry_from_dict(opts.get("retry", {})),
        timeout_seconds=_float(opts.get("timeout_seconds")),
        resources=_resources_from_dict(opts.get("resources", {})),
        cache=bool(opts.get("cache", True)),
        cache_env=tuple(opts.get("cache_env", ())),
        packages=tuple(opts.get("packages", ())),
        base_image=opts.get("base_image"),
    )


def _task_to_dict(t: TaskSpec) -> dict[str, Any]:
    return _drop_none(
        {
            "component": t.component,
            "display_name": t.display_name,
            "inputs": {k: ref_to_dict(v) for k, v in t.inputs.items()},
            "depends_on": sorted(t.depends_on),
            "group": t.group,
            "options": _drop_none(
                {
                    "retry": _retry_to_dict(t.retry),
                    "timeout_seconds": _float(t.timeout_seconds),
                    "resources": _resources_to_dict(t.resources),
                    "cache": t.cache,
                    "dynamic": {k: ref_to_dict(v) for k, v in sorted(t.dynamic.items())} or None,
                }
            ),
        }
    )


def _task_from_dict(name: str, d: Mapping[str, Any]) -> TaskSpec:
    opts = d.get("options", {})
    return TaskSpec(
        name=name,
        component=d["component"],
        display_name=d.get("display_name"),
        inputs={k: _value_ref(v) for k, v in d.get("inputs", {}).items()},
        depends_on=tuple(d.get("depends_on", ())),
        group=d.get("group"),
        retry=_retry_from_dict(opts.get("retry", {})),
        timeout_seconds=_float(opts.get("timeout_seconds")),
        resources=_resources_from_dict(opts.get("resources", {})),
        cache=bool(opts.get("cache", True)),
        dynamic={k: _value_ref(v) for k, v in opts.get("dynamic", {}).items()},
    )


def _group_to_dict(g: GroupSpec) -> dict[str, Any]:
    return _drop_none(
        {
            "kind": g.kind,
            "parent": g.parent,
            "condition": ref_to_dict(g.condition) if g.condition else None,
            "items": ref_to_dict(g.items) if g.items is not None else None,
            "parallelism": g.parallelism,
            "max_iterations": g.max_iterations,
            "until": ref_to_dict(g.until) if g.until else None,
            "handler_task": g.handler_task,
            "carry": {
                name: _drop_none(
                    {
                        "initial": ref_to_dict(c.initial) if c.initial is not None else None,
                        "next": ref_to_dict(c.next),
                    }
                )
                for name, c in sorted(g.carry.items())
            }
            or None,
        }
    )


def _group_from_dict(name: str, d: Mapping[str, Any]) -> GroupSpec:
    return GroupSpec(
        name=name,
        kind=d["kind"],
        parent=d.get("parent"),
        condition=_condition(d.get("condition")),
        items=_value_ref(d["items"]) if "items" in d else None,
        parallelism=d.get("parallelism"),
        max_iterations=d.get("max_iterations"),
        until=_condition(d.get("until")),
        handler_task=d.get("handler_task"),
        carry={
            k: LoopCarry(
                _value_ref(v["initial"]) if "initial" in v else None, _value_ref(v["next"])
            )
            for k, v in d.get("carry", {}).items()
        },
    )


def spec_to_dict(spec: PipelineSpec) -> dict[str, Any]:
    """The IR as plain JSON-ready data."""
    return _drop_none(
        {
            "ir_version": spec.ir_version,
            WRITER_KEY: VERSION,
            "pipeline": _drop_none(
                {
                    "name": spec.name,
                    "description": spec.description,
                    "module": spec.module,
                    "parameters": {k: _param_to_dict(v) for k, v in spec.parameters.items()},
                }
            ),
            "components": {k: _component_to_dict(v) for k, v in spec.components.items()},
            "tasks": {k: _task_to_dict(v) for k, v in spec.tasks.items()},
            "groups": {k: _group_to_dict(v) for k, v in spec.groups.items()},
        }
    )


def _version_numbers(version: str) -> tuple[int, int] | None:
    parts = version.split(".")
    if not all(p.isascii() and p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0


def _check_version(value: Any, writer: Any) -> str:
    """The document's version, if this Conveyor reads it: same major, minor up to ours."""
    version = str(value)
    found, ours = _version_numbers(version), _version_numbers(IR_VERSION)
    assert ours is not None
    if found is None:
        raise CompilationError(
            f"IR version {version!r} is not a version (expected MAJOR.MINOR such as "
            f"{IR_VERSION!r}). Recompile the pipeline: conveyor compile PIPELINE.py -o OUT.json"
        )
    if found[0] != ours[0]:
        raise CompilationError(
            f"IR version {version!r} is not supported by this Conveyor (reads "
            f"{ours[0]}.x). "
            "Recompile the pipeline with this version: conveyor compile PIPELINE.py -o OUT.json"
        )
    if found[1] > ours[1]:
        by = f"Conveyor {writer}" if isinstance(writer, str) and writer else "a newer Conveyor"
        raise CompilationError(
            f"The IR was written by {by} (IR {version}); this Conveyor "
            f"({VERSION}) reads IR up to {IR_VERSION}: upgrade Conveyor "
            "(pip install -U conveyor-ml), or recompile the pipeline with this one: "
            "conveyor compile PIPELINE.py -o OUT.json"
        )
    return version


def spec_from_dict(data: Mapping[str, Any]) -> PipelineSpec:
    """Read an IR document; raises :class:`CompilationError` on a version or shape problem."""
    if "ir_version" not in data:
        raise CompilationError(
            "The document has no 'ir_version', so it is not a Conveyor IR. Compile the pipeline "
            "with: conveyor compile PIPELINE.py -o OUT.json"
        )
    version = _check_version(data["ir_version"], data.get(WRITER_KEY))
    try:
        p = data["pipeline"]
        return PipelineSpec(
            ir_version=version,
            name=p["name"],
            description=p.get("description", ""),
            module=p.get("module"),
            parameters={k: _param_from_dict(v) for k, v in p.get("parameters", {}).items()},
            components={k: _component_from_dict(v) for k, v in data["components"].items()},
            tasks={k: _task_from_dict(k, v) for k, v in data["tasks"].items()},
            groups={k: _group_from_dict(k, v) for k, v in data.get("groups", {}).items()},
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise CompilationError(
            f"Malformed IR document: missing or wrong field {exc}. "
            "Check it against the JSON Schema conveyor/ir/schema/pipeline_spec.v1.json"
        ) from exc


def dumps(spec: PipelineSpec) -> str:
    """Deterministic JSON text (sorted keys, fixed indentation, trailing newline).

    Raises:
        CompilationError: a value is not JSON (NaN, infinity, or a Python object).
    """
    try:
        text = json.dumps(
            spec_to_dict(spec), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise CompilationError(f"Pipeline {spec.name!r} cannot be written as JSON: {exc}") from exc
    return text + "\n"


def loads(text: str | bytes) -> PipelineSpec:
    """Parse IR JSON text (bytes must be UTF-8).

    Raises:
        CompilationError: the text is not UTF-8 or not JSON, or the document is not an IR
            this Conveyor reads (version, shape).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CompilationError(
                f"IR is not UTF-8 text: byte {exc.object[exc.start]:#04x} at offset "
                f"{exc.start} cannot be decoded. An IR is the JSON that "
                "conveyor compile PIPELINE.py -o OUT.json writes"
            ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CompilationError(f"IR is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CompilationError("IR must be a JSON object")
    return spec_from_dict(data)


def load_file(path: str) -> PipelineSpec:
    """Read the IR document at ``path``.

    Raises:
        CompilationError: as :func:`loads`; the message names the file.
        OSError: the file cannot be read.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        return loads(data)
    except CompilationError as exc:
        raise CompilationError(f"{path}: {exc}") from exc.__cause__
