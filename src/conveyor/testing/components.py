"""``check_component``: run one component in isolation and check its contract."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

from conveyor._internal.importing import import_object
from conveyor.cache.code import code_fingerprint
from conveyor.dsl.annotations import json_value_matches
from conveyor.dsl.component import Component
from conveyor.execution.results import ArtifactRef, TaskOutputs, TaskResult
from conveyor.execution.runs import open_run
from conveyor.execution.task import execute_task
from conveyor.ir.serialize import dumps, loads
from conveyor.ir.spec import Constant, PipelineSpec, TaskOutputRef, TaskSpec
from conveyor.metadata import connect
from conveyor.metadata.entities import ExecutionState, NewArtifact
from conveyor.storage import LocalArtifactStore

__all__ = ["check_component"]

_INPUTS = "_inputs"


def check_component(
    component: Component,
    *,
    parameters: Mapping[str, Any] | None = None,
    inputs: Mapping[str, str] | None = None,
    workdir: str | None = None,
) -> TaskResult:
    """Run ``component`` alone on throwaway stores and check what every runner relies on.

    Checks that its spec survives the IR (JSON) unchanged, that a worker or a remote runner
    can import it by the module and name the IR records, that its code fingerprint can be
    computed, that it completes with ``parameters`` and the files or folders in ``inputs``
    (by input name), that it writes every output artifact and returns outputs of the
    declared types. Returns the task's result for further assertions.

    Raises:
        AssertionError: with what is wrong, when a check fails.

    Example:
        >>> from conveyor.testing import check_component
        >>> result = check_component(train, parameters={"C": 0.5},
        ...                          inputs={"data": "tests/data/small.csv"})  # doctest: +SKIP
        >>> result.outputs.parameters["Output"] > 0.5  # doctest: +SKIP
        True
    """
    spec = component.spec
    assert loads(dumps(_pipeline(spec, {}, {}))).components[spec.name] == spec, (
        f"component {spec.name!r}: its spec changes through the IR"
    )
    impl = spec.implementation
    loaded = import_object(impl.module, impl.function)
    assert getattr(loaded, "python_func", loaded) is component.python_func, (
        f"component {spec.name!r}: {impl.module}.{impl.function} is not importable as itself; "
        "define components at module level"
    )
    assert code_fingerprint(component.python_func).parts, f"{spec.name!r}: no code fingerprint"
    parameters = dict(parameters or {})
    inputs = dict(inputs or {})
    missing = [k for k, a in spec.input_artifacts.items() if not a.optional and k not in inputs]
    assert not missing, f"component {spec.name!r}: give files for inputs {missing!r}"
    root = workdir or tempfile.mkdtemp(prefix="conveyor-check-")
    metadata = connect("sqlite://")
    try:
        storage = LocalArtifactStore(os.path.join(root, "artifacts"))
        pipeline = _pipeline(spec, parameters, inputs)
        run = open_run(metadata, pipeline, run_id="check")
        upstream = _record_inputs(spec, inputs, storage, metadata, run.contexts)
        result = execute_task(
            pipeline,
            spec.name,
            run,
            {},
            metadata,
            storage,
            upstream={_INPUTS: upstream},
            use_cache=False,
        )
        assert result.state == ExecutionState.COMPLETE, (
            f"component {spec.name!r} failed: {result.error}\n{result.traceback or ''}"
        )
        assert set(result.outputs.artifacts) == set(spec.output_artifacts)
        for key, pspec in spec.output_parameters.items():
            value = result.outputs.parameters.get(key)
            assert json_value_matches(value, pspec.type, pspec.nullable), (
                f"component {spec.name!r}: output {key!r} is {value!r}, not {pspec.type}"
            )
        return result
    finally:
        metadata.close()
        if workdir is None:
            shutil.rmtree(root, ignore_errors=True)


def _pipeline(spec: Any, parameters: Mapping[str, Any], inputs: Mapping[str, str]) -> PipelineSpec:
    bindings: dict[str, Any] = {k: Constant(v) for k, v in parameters.items()}
    bindings.update({k: TaskOutputRef(_INPUTS, k) for k in inputs})
    task = TaskSpec(
        name=spec.name,
        component=spec.name,
        inputs=bindings,
        depends_on=(_INPUTS,) if inputs else (),
        retry=spec.retry,
        timeout_seconds=spec.timeout_seconds,
        resources=spec.resources,
        cache=False,
    )
    return PipelineSpec(
        name=f"check-{spec.name}", components={spec.name: spec}, tasks={spec.name: task}
    )


def _record_inputs(
    spec: Any,
    inputs: Mapping[str, str],
    storage: LocalArtifactStore,
    metadata: Any,
    contexts: tuple[int, ...],
) -> TaskOutputs:
    new = []
    for key, path in sorted(inputs.items()):
        uri = storage.uri_for("inputs", key)
        staged = storage.staging_path(uri)
        if os.path.isdir(path):
            shutil.copytree(path, staged)
        else:
            shutil.copyfile(path, staged)
        fp = storage.commit(staged, uri)
        new.append(
            NewArtifact(
                key=key,
                type_name=spec.input_artifacts[key].type,
                uri=uri,
                fingerprint=fp.digest,
                size_bytes=fp.size,
            )
        )
    if not new:
        return TaskOutputs()
    _, records = metadata.record_execution(
        "conveyor.CheckInputs", _INPUTS, ExecutionState.COMPLETE, contexts=contexts, outputs=new
    )
    return TaskOutputs(
        {}, {n.key: ArtifactRef.from_record(r) for n, r in zip(new, records, strict=True)}
    )
