"""The pipeline SDK: ``@component``, ``@pipeline``, ``Input``/``Output``, and control flow."""

from conveyor.dsl.annotations import Input, Output
from conveyor.dsl.component import Component, component
from conveyor.dsl.conditions import ConditionExpr
from conveyor.dsl.control import Elif, Else, ExitHandler, If, OneOf, RunStatus
from conveyor.dsl.loops import Carry, Loop
from conveyor.dsl.parallel import Collected, LoopItem, ParallelFor
from conveyor.dsl.pipeline import Pipeline, pipeline
from conveyor.dsl.tasks import OutputRef, PipelineParam, Task

__all__ = [
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
]
