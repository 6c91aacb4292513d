"""Benchmark shapes, as in the anchors: a chain of 20 tiny steps and a fan-out of 32.

Each step passes a small artifact (a JSON file holding an int) to the next, so metadata is
recorded and artifacts are persisted exactly as in a real pipeline.
"""

from __future__ import annotations

import json

from conveyor import Artifact, Input, Output, component, pipeline


@component
def start(out: Output[Artifact]) -> None:
    """The first value."""
    with open(out.path, "w") as fh:
        json.dump({"n": 0}, fh)


@component
def inc(x: Input[Artifact], out: Output[Artifact]) -> None:
    """Add one."""
    with open(x.path) as fh:
        n = json.load(fh)["n"]
    with open(out.path, "w") as fh:
        json.dump({"n": n + 1}, fh)


@component
def source(out: Output[Artifact]) -> None:
    """The fan-out's source value."""
    with open(out.path, "w") as fh:
        json.dump({"n": 1}, fh)


@component
def work(x: Input[Artifact], i: int, out: Output[Artifact]) -> None:
    """One parallel step: x + i."""
    with open(x.path) as fh:
        n = json.load(fh)["n"]
    with open(out.path, "w") as fh:
        json.dump({"n": n + i}, fh)


@component
def join(xs: Input[list[Artifact]]) -> int:
    """Sum every parallel result."""
    total = 0
    for a in xs:
        with open(a.path) as fh:
            total += json.load(fh)["n"]
    return total


@pipeline(name="chain20")
def chain20() -> None:
    """start + 19 inc steps in a line."""
    t = start()
    for _ in range(19):
        t = inc(x=t.outputs["out"])


@pipeline(name="fan32")
def fan32() -> None:
    """source, 32 parallel work steps, join."""
    s = source()
    outs = [work(x=s.outputs["out"], i=i).outputs["out"] for i in range(32)]
    join(xs=outs)
