"""The public API is designed: each package's ``__all__`` is pinned, sorted, importable, documented.

Changing a list below is an API change: update the list deliberately, never to make a test pass.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import itertools
import types
from typing import Any

import pytest

EXPORTS: dict[str, list[str]] = {
    "conveyor": [
        "HTML",
        "Artifact",
        "Collected",
        "Dataset",
        "Elif",
        "Else",
        "ExitHandler",
        "If",
        "Input",
        "Loop",
        "Markdown",
        "Metrics",
        "Model",
        "OneOf",
        "Output",
        "ParallelFor",
        "RunStatus",
        "__version__",
        "component",
        "end_run",
        "load_model",
        "log_metric",
        "log_metrics",
        "log_params",
        "pipeline",
        "run",
        "start_run",
        "sweep",
    ],
    "conveyor.dsl": [
        "Carry",
        "Collected",
        "Component",
        "ConditionExpr",
        "Elif",
        "Else",
        "ExitHandler",
        "If",
        "Input",
        "Loop",
        "LoopItem",
        "OneOf",
        "Output",
        "OutputRef",
        "ParallelFor",
        "Pipeline",
        "PipelineParam",
        "RunStatus",
        "Task",
        "component",
        "pipeline",
    ],
    "conveyor.ir": [
        "IR_VERSION",
        "MISSING",
        "ArtifactSpec",
        "CollectedRef",
        "ComponentSpec",
        "Condition",
        "Constant",
        "GroupSpec",
        "Implementation",
        "ListRef",
        "LoopItemRef",
        "ParameterSpec",
        "PipelineParameterRef",
        "PipelineSpec",
        "Resources",
        "RetryPolicy",
        "RunStatusRef",
        "TaskOutputRef",
        "TaskSpec",
        "ValueRef",
        "dumps",
        "loads",
        "spec_from_dict",
        "spec_to_dict",
        "validate",
    ],
    "conveyor.types": [
        "HTML",
        "Artifact",
        "Dataset",
        "ExampleAnomalies",
        "ExampleStatistics",
        "Examples",
        "HyperParameters",
        "InferenceResult",
        "InfraBlessing",
        "Markdown",
        "Metrics",
        "Model",
        "ModelBlessing",
        "ModelCard",
        "ModelEvaluation",
        "OnnxModel",
        "PushedModel",
        "Schema",
        "TransformGraph",
        "TunerResults",
        "artifact_type",
        "is_artifact_type",
        "is_compatible",
        "register_view",
        "registered_types",
    ],
    "conveyor.errors": [
        "ActionConflict",
        "ActionError",
        "AlreadyExistsError",
        "ArtifactError",
        "ArtifactNotFoundError",
        "CompilationError",
        "ComponentError",
        "ConfigError",
        "ConveyorError",
        "DefinitionError",
        "DeploymentError",
        "ExecutionError",
        "InputError",
        "InvalidNameError",
        "MissingExtraError",
        "NotFoundError",
        "OptionError",
        "PipelineValidationError",
        "RunInterrupted",
        "StoreError",
        "SweepError",
        "TaskTimeoutError",
        "UnblessedModelError",
    ],
    "conveyor.cache": [
        "CacheHit",
        "CacheKey",
        "CacheLookup",
        "CodeFingerprint",
        "code_fingerprint",
        "explain_change",
        "find_cache_hit",
        "is_local_file",
    ],
    "conveyor.components": [
        "import_artifact",
        "import_dataset",
        "import_model",
    ],
    "conveyor.deploy": [
        "BuildContext",
        "Check",
        "KubernetesSpec",
        "LocalStatus",
        "ServeSpec",
        "SmokeReport",
        "StopResult",
        "deployment_yaml",
        "inference_service_yaml",
        "local_deployments",
        "local_status",
        "smoke_test",
        "start_local",
        "stop_local",
        "write_context",
    ],
    "conveyor.execution": [
        "ArtifactRef",
        "PreparedTask",
        "RunInfo",
        "TaskOutputs",
        "TaskResult",
        "call_user_code",
        "code_root_for",
        "execute_task",
        "format_user_traceback",
        "load_task_outputs",
        "new_run_id",
        "open_run",
        "parse_cli_value",
        "prepare_task",
        "record_cache_hit",
        "record_not_run",
        "refresh_run_state",
        "resolve_parameters",
        "run_prepared",
    ],
    "conveyor.metadata": [
        "CONTEXT_EXPERIMENT",
        "CONTEXT_PIPELINE",
        "CONTEXT_PIPELINE_VERSION",
        "CONTEXT_RUN",
        "LIFECYCLE",
        "LIFECYCLE_ARCHIVED",
        "LIFECYCLE_DELETED",
        "ArtifactRecord",
        "ArtifactState",
        "ContextRecord",
        "EventRecord",
        "EventType",
        "ExecutionRecord",
        "ExecutionState",
        "LineageGraph",
        "MetadataStore",
        "NewArtifact",
        "connect",
    ],
    "conveyor.orchestrator": [
        "LocalOrchestrator",
        "PlanEntry",
        "RunReporter",
        "RunResult",
        "RunState",
        "plan_run",
        "reconcile_stale_runs",
    ],
    "conveyor.storage": [
        "ArtifactStore",
        "Fingerprint",
        "LocalArtifactStore",
        "content_digest",
        "open_store",
    ],
    "conveyor.testing": [
        "artifact_store_checks",
        "check_artifact_store",
        "check_component",
        "check_metadata_store",
        "check_model_registry",
        "metadata_store_checks",
        "model_registry_checks",
    ],
}

MEMBERS = [(module, name) for module, names in EXPORTS.items() for name in names]


def _isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then everything else."""
    if name.isupper():
        return (0, name)
    if name[0].isupper():
        return (1, name)
    return (2, name)


@pytest.mark.parametrize("module", EXPORTS)
def test_all_is_pinned(module: str) -> None:
    assert importlib.import_module(module).__all__ == EXPORTS[module]


@pytest.mark.parametrize("module", EXPORTS)
def test_all_is_sorted(module: str) -> None:
    names = importlib.import_module(module).__all__

    assert names == sorted(names, key=_isort_key)
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(("module", "name"), MEMBERS, ids=[f"{m}.{n}" for m, n in MEMBERS])
def test_exported_name_is_importable(module: str, name: str) -> None:
    namespace: dict[str, Any] = {}

    exec(f"from {module} import {name}", namespace)

    assert name in namespace


def _defining_module(module: types.ModuleType, name: str) -> types.ModuleType:
    """The module whose source assigns ``name`` (following ``from X import name`` and the
    lazy ``_EXPORTS`` table of a package that loads its names on first use)."""
    lazy = getattr(module, "_EXPORTS", {})
    if name in lazy:
        return _defining_module(importlib.import_module(lazy[name]), name)
    for node in ast.parse(inspect.getsource(module)).body:
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and any(alias.name == name and alias.asname is None for alias in node.names)
        ):
            return _defining_module(importlib.import_module(node.module), name)
    return module


def _attribute_docstring(module: types.ModuleType, name: str) -> str | None:
    """The string literal right after a module-level ``name = ...`` (an attribute docstring)."""
    source = _defining_module(module, name)
    body = ast.parse(inspect.getsource(source)).body
    for node, following in itertools.pairwise(body):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        assigned = any(isinstance(t, ast.Name) and t.id == name for t in targets)
        if (
            assigned
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
        ):
            value = following.value.value
            return value if isinstance(value, str) else None
    return None


DOCUMENTED = [(m, n) for m, n in MEMBERS if n != "__version__"]


@pytest.mark.parametrize(("module", "name"), DOCUMENTED, ids=[f"{m}.{n}" for m, n in DOCUMENTED])
def test_exported_name_is_documented(module: str, name: str) -> None:
    mod = importlib.import_module(module)
    obj = getattr(mod, name)

    if inspect.isclass(obj) or inspect.isfunction(obj) or hasattr(obj, "python_func"):
        # classes, functions and components (whose __doc__ is their function's)
        doc = obj.__doc__  # a class's own docstring: __doc__ is not inherited
    else:  # a constant, a type alias or a marker object: look for an attribute docstring
        doc = _attribute_docstring(mod, name)

    assert doc and doc.strip(), f"{module}.{name} has no docstring"


def test_version_matches_the_installed_distribution() -> None:
    import conveyor

    assert conveyor.__version__ == importlib.metadata.version("conveyor-ml")
