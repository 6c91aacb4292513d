"""Conveyor: carry a machine-learning model from notebook experiment to production.

Example:
    >>> from conveyor import Dataset, Input, Output, component, pipeline
"""

from conveyor.dsl import Input, Output, component, pipeline
from conveyor.types import HTML, Artifact, Dataset, Markdown, Metrics, Model

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # ``conveyor.run`` pulls in the orchestrator and SQLAlchemy: load it on first use only,
    # so ``import conveyor`` stays fast for pipeline definitions.
    if name == "run":
        from conveyor.runner import run

        return run
    raise AttributeError(f"module 'conveyor' has no attribute {name!r}")


__all__ = [
    "HTML",
    "Artifact",
    "Dataset",
    "Input",
    "Markdown",
    "Metrics",
    "Model",
    "Output",
    "__version__",
    "component",
    "pipeline",
    "run",
]
