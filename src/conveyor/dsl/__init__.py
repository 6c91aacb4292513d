"""The pipeline SDK: ``@component``, ``@pipeline``, ``Input``/``Output``."""

from conveyor.dsl.annotations import Input, Output
from conveyor.dsl.component import Component, component
from conveyor.dsl.pipeline import OutputRef, Pipeline, PipelineParam, Task, pipeline

__all__ = [
    "Component",
    "Input",
    "Output",
    "OutputRef",
    "Pipeline",
    "PipelineParam",
    "Task",
    "component",
    "pipeline",
]
