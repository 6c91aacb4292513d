"""Conveyor: carry a machine-learning model from notebook experiment to production.

Names load on first use, so ``import conveyor`` itself costs almost nothing.

Example:
    >>> from conveyor import Dataset, Input, Output, component, pipeline
"""

from __future__ import annotations

import importlib

from conveyor._internal.version import VERSION as __version__

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the CLI 7 ms
if TYPE_CHECKING:
    from typing import Any

    from conveyor.dsl import (
        Collected,
        Elif,
        Else,
        ExitHandler,
        If,
        Input,
        Loop,
        OneOf,
        Output,
        ParallelFor,
        RunStatus,
        component,
        pipeline,
    )
    from conveyor.runner import load_model, run, sweep
    from conveyor.tracking import end_run, log_metric, log_metrics, log_params, start_run
    from conveyor.types import HTML, Artifact, Dataset, Markdown, Metrics, Model

_EXPORTS = {
    "HTML": "conveyor.types",
    "Artifact": "conveyor.types",
    "Collected": "conveyor.dsl",
    "Dataset": "conveyor.types",
    "Elif": "conveyor.dsl",
    "Else": "conveyor.dsl",
    "ExitHandler": "conveyor.dsl",
    "If": "conveyor.dsl",
    "Input": "conveyor.dsl",
    "Loop": "conveyor.dsl",
    "Markdown": "conveyor.types",
    "Metrics": "conveyor.types",
    "Model": "conveyor.types",
    "OneOf": "conveyor.dsl",
    "Output": "conveyor.dsl",
    "ParallelFor": "conveyor.dsl",
    "RunStatus": "conveyor.dsl",
    "component": "conveyor.dsl",
    "end_run": "conveyor.tracking",
    "load_model": "conveyor.runner",
    "log_metric": "conveyor.tracking",
    "log_metrics": "conveyor.tracking",
    "log_params": "conveyor.tracking",
    "start_run": "conveyor.tracking",
    "pipeline": "conveyor.dsl",
    "run": "conveyor.runner",
    "sweep": "conveyor.runner",
}

__all__ = [
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
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'conveyor' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
