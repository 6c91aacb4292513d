"""Every control-flow construct, for the IR round-trip, determinism and schema tests."""

from __future__ import annotations

from typing import NamedTuple

import conveyor
from conveyor import Dataset, Input, Model, Output, component, pipeline


class Score(NamedTuple):
    auc: float
    done: bool


@component
def make_items(n: int) -> list:
    return [{"id": i} for i in range(n)]


@component
def work(item_id: int, out: Output[Dataset]) -> int:
    return item_id


@component
def gather(ids: list, parts: Input[list[Dataset]]) -> int:
    return len(parts)


@component
def fit(model: Output[Model], previous: Input[Model] = None, rounds: int = 1) -> Score:
    return Score(0.5, False)


@component
def report(label: str) -> str:
    return label


@component
def notify(status: dict) -> str:
    return status["state"]


@pipeline(name="control")
def control(n: int = 3, bar: float = 0.8, cpus: float = 1.0, memory: str = "1Gi"):
    """Conditions, parallel-for with fan-in, a warm-start loop, an exit handler, options."""
    handler = notify(status=conveyor.RunStatus)
    with conveyor.ExitHandler(handler):
        items = make_items(n=n)
        with conveyor.ParallelFor(items.output, parallelism=2) as item:
            w = work(item_id=item["id"]).set_resources(cpu=cpus, memory=memory)
        gather(
            ids=conveyor.Collected(w.outputs["Output"]), parts=conveyor.Collected(w.outputs["out"])
        )
        with conveyor.Loop(max_iterations=5) as loop:
            previous = loop.carry()
            f = fit(previous=previous).set_retry(max_retries=n)
            previous.update(f.outputs["model"])
            loop.stop_when((f.outputs["auc"] >= bar) | f.outputs["done"])
        with conveyor.If(f.outputs["auc"] >= bar):
            good = report(label="good")
        with conveyor.Elif(f.outputs["auc"].is_in([0.5, 0.6])):
            fair = report(label="fair")
        with conveyor.Else():
            poor = report(label="poor")
        report(label=conveyor.OneOf(good.output, fair.output, poor.output))
