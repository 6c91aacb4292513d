"""Conveyor: carry a machine-learning model from notebook experiment to production.

Example:
    >>> from conveyor import Dataset, Input, Output, component, pipeline
"""

from conveyor.dsl import Input, Output, component, pipeline
from conveyor.types import HTML, Artifact, Dataset, Markdown, Metrics, Model

__version__ = "0.1.0"

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
]
