"""Fixtures for IR tests: every resource pipeline, and a hand-built spec using every IR feature."""

from __future__ import annotations

import json
import os
from importlib import resources
from typing import Any

import pytest

from conveyor._internal.importing import import_file
from conveyor.dsl import Pipeline
from conveyor.ir import (
    ArtifactSpec,
    CollectedRef,
    ComponentSpec,
    Condition,
    Constant,
    GroupSpec,
    Implementation,
    ListRef,
    LoopItemRef,
    ParameterSpec,
    PipelineParameterRef,
    PipelineSpec,
    Resources,
    RetryPolicy,
    RunStatusRef,
    TaskOutputRef,
    TaskSpec,
)

RESOURCES = os.path.join(os.path.dirname(__file__), "..", "..", "resources", "pipelines")


def resource_pipeline_files() -> list[str]:
    """Paths of every module in tests/resources/pipelines."""
    return sorted(
        os.path.abspath(os.path.join(RESOURCES, f))
        for f in os.listdir(RESOURCES)
        if f.endswith(".py")
    )


def pipelines_in(path: str) -> dict[str, Pipeline]:
    """The pipelines a resource module defines, by attribute name."""
    module = import_file(path)
    return {k: v for k, v in sorted(vars(module).items()) if isinstance(v, Pipeline)}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``resource_pipeline`` with (file, attribute) of every resource pipeline."""
    if "resource_pipeline" in metafunc.fixturenames:
        cases = [(path, attr) for path in resource_pipeline_files() for attr in pipelines_in(path)]
        ids = [f"{os.path.basename(p)[:-3]}.{a}" for p, a in cases]
        metafunc.parametrize("resource_pipeline", cases, ids=ids)


@pytest.fixture
def pipeline_of() -> Any:
    """Load the Pipeline object of a ``resource_pipeline`` case."""

    def _get(case: tuple[str, str]) -> Pipeline:
        path, attr = case
        return pipelines_in(path)[attr]

    return _get


@pytest.fixture(scope="session")
def ir_schema() -> dict[str, Any]:
    """The JSON Schema of the IR, read from the installed package."""
    text = (
        resources.files("conveyor.ir").joinpath("schema/pipeline_spec.v1.json").read_text("utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


def _component(
    name: str,
    *,
    in_params: dict[str, ParameterSpec] | None = None,
    in_arts: dict[str, ArtifactSpec] | None = None,
    out_params: dict[str, ParameterSpec] | None = None,
    out_arts: dict[str, ArtifactSpec] | None = None,
) -> ComponentSpec:
    return ComponentSpec(
        name=name,
        implementation=Implementation("handbuilt", name, "handbuilt.py"),
        description=f"The {name} step.",
        input_parameters=in_params or {},
        input_artifacts=in_arts or {},
        output_parameters=out_params or {},
        output_artifacts=out_arts or {},
    )


DATASET = "conveyor.Dataset@1.0.0"


def build_full_spec() -> PipelineSpec:
    """A valid spec with every group kind, every value-reference kind and nested conditions.

    exit (exit_handler: notify)
    ├── produce
    ├── gate (condition: produce.Output > threshold and not mode == "skip")
    │   ├── fan (parallel_for over shards, 2 at a time)
    │   │   └── consume (data from produce, x = the item's "k")
    │   └── gather (every consume.out, collected; values = [produce.Output, 1, threshold])
    └── retrain (loop, at most 3 times, until refit.Output >= 0.9)
        └── refit
    notify (status = the run's status)
    """
    components = {
        "produce": _component(
            "produce",
            out_params={"Output": ParameterSpec("number")},
            out_arts={"data": ArtifactSpec(DATASET, description="The rows.")},
        ),
        "consume": _component(
            "consume",
            in_params={"x": ParameterSpec("any", default=None, nullable=True)},
            in_arts={"data": ArtifactSpec(DATASET)},
            out_params={"Output": ParameterSpec("number")},
            out_arts={"out": ArtifactSpec(DATASET)},
        ),
        "gather": _component(
            "gather",
            in_params={
                "values": ParameterSpec("array"),
                "mode": ParameterSpec("string", default="a", enum=("a", "b")),
            },
            in_arts={
                "parts": ArtifactSpec(DATASET, is_list=True),
                "extra": ArtifactSpec(DATASET, optional=True),
            },
        ),
        "notify": _component(
            "notify", in_params={"status": ParameterSpec("string", description="Final status.")}
        ),
    }
    produced = TaskOutputRef("produce", "Output")
    tasks = {
        "produce": TaskSpec(
            "produce",
            "produce",
            group="exit",
            retry=RetryPolicy(max_retries=2, backoff_seconds=0.5),
            timeout_seconds=30.0,
            resources=Resources(cpu=1.5, memory="2Gi", gpu=1, gpu_type="nvidia-l4"),
            display_name="Produce rows",
        ),
        "consume": TaskSpec(
            "consume",
            "consume",
            inputs={
                "data": TaskOutputRef("produce", "data"),
                "x": LoopItemRef("fan", key="k"),
            },
            depends_on=("produce",),
            group="fan",
        ),
        "gather": TaskSpec(
            "gather",
            "gather",
            inputs={
                "parts": CollectedRef("consume", "out", "fan"),
                "values": ListRef((produced, Constant(1), PipelineParameterRef("threshold"))),
                "mode": Constant("b"),
            },
            depends_on=("consume", "produce"),
            group="gate",
            cache=False,
        ),
        "refit": TaskSpec(
            "refit",
            "consume",
            inputs={"data": TaskOutputRef("produce", "data"), "x": Constant({"lr": 0.1})},
            depends_on=("produce",),
            group="retrain",
        ),
        "notify": TaskSpec("notify", "notify", inputs={"status": RunStatusRef()}),
    }
    groups = {
        "exit": GroupSpec("exit", "exit_handler", handler_task="notify"),
        "gate": GroupSpec(
            "gate",
            "condition",
            parent="exit",
            condition=Condition(
                "and",
                (
                    Condition(">", (produced, PipelineParameterRef("threshold"))),
                    Condition(
                        "not",
                        (Condition("==", (PipelineParameterRef("mode"), Constant("skip"))),),
                    ),
                ),
            ),
        ),
        "fan": GroupSpec(
            "fan",
            "parallel_for",
            parent="gate",
            items=PipelineParameterRef("shards"),
            parallelism=2,
        ),
        "retrain": GroupSpec(
            "retrain",
            "loop",
            parent="exit",
            max_iterations=3,
            until=Condition(
                "or",
                (
                    Condition(">=", (TaskOutputRef("refit", "Output"), Constant(0.9))),
                    Condition("in", (PipelineParameterRef("mode"), Constant(["skip", "stop"]))),
                ),
            ),
        ),
    }
    return PipelineSpec(
        name="handbuilt",
        description="Every IR feature at once.",
        module="handbuilt",
        parameters={
            "threshold": ParameterSpec("number", default=0.5),
            "mode": ParameterSpec("string", default="run", description="run or skip"),
            "shards": ParameterSpec("array", default=[{"k": 1}, {"k": 2}]),
            "note": ParameterSpec("string", default=None, nullable=True),
        },
        components=components,
        tasks=tasks,
        groups=groups,
    )


@pytest.fixture
def full_spec() -> PipelineSpec:
    """The hand-built spec of :func:`build_full_spec` (valid, every IR feature)."""
    return build_full_spec()
