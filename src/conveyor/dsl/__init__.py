"""The pipeline SDK: ``@component``, ``@pipeline``, ``Input``/``Output``."""

from conveyor.dsl.annotations import Input, Output
from conveyor.dsl.component import Component, component
from conveyor.dsl.pipeline import Pipeline, pipeline
from conveyor.dsl.tasks import OutputRef, PipelineParam, Task

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
