"""Pipelines for the run actions' tests: a run that fails until a gate file exists (retry in
place), and a long step inside an exit handler (terminate)."""

from __future__ import annotations

import json
import os
import time

import conveyor
from conveyor import Dataset, Input, Output, component, pipeline


@component
def produce(text: str, copies: int, tally: str, data: Output[Dataset]) -> int:
    """Write the data set; note every time it runs."""
    with open(tally, "a") as fh:
        fh.write("produce\n")
    with open(data.path, "w") as fh:
        fh.write(text * copies)
    return len(text) * copies


@component
def rarely(n: int, tally: str) -> int:
    """Runs only when the condition holds (never, here)."""
    with open(tally, "a") as fh:
        fh.write("rarely\n")
    return n


@component
def fragile(data: Input[Dataset], gate: str) -> int:
    """Fail while the gate file is missing."""
    if not os.path.exists(gate):
        raise RuntimeError(f"the gate file {gate} is missing")
    with open(data.path) as fh:
        return len(fh.read())


@component
def conclude(n: int, tally: str) -> str:
    """Note that the end was reached."""
    with open(tally, "a") as fh:
        fh.write("conclude\n")
    return f"done {n}"


@pipeline(name="mend")
def mend(text: str = "abc", copies: int = 1, tally: str = "/tmp/tally", gate: str = "/tmp/gate"):
    """produce -> fragile -> conclude, and a branch that is skipped."""
    p = produce(text=text, copies=copies, tally=tally)
    with conveyor.If(p.outputs["Output"] == 0):
        rarely(n=p.outputs["Output"], tally=tally)
    f = fragile(data=p.outputs["data"], gate=gate)
    conclude(n=f.outputs["Output"], tally=tally)


@component
def doze(marker: str, seconds: float) -> float:
    """Announce the start, then sleep (a terminate lands while it runs)."""
    open(marker, "w").close()
    time.sleep(seconds)
    return seconds


@component
def report(status: dict, path: str) -> str:
    """The exit handler: write the run's status where the test reads it."""
    with open(path, "w") as fh:
        json.dump(status, fh)
    return status["state"]


@pipeline(name="sleeper")
def sleeper(marker: str = "/tmp/dozing", path: str = "/tmp/status.json", seconds: float = 60.0):
    """A long step inside an exit handler."""
    r = report(status=conveyor.RunStatus, path=path)
    with conveyor.ExitHandler(r):
        doze(marker=marker, seconds=seconds)


@component
def pieces(n: int) -> list:
    """The items of the fan-out, produced at run time."""
    return list(range(n))


@component
def piece(i: int, gate: str, tally: str) -> int:
    """Item 1 fails while the gate file is missing; every run is noted."""
    with open(tally, "a") as fh:
        fh.write(f"piece {i}\n")
    if i == 1 and not os.path.exists(gate):
        raise RuntimeError(f"the gate file {gate} is missing")
    return i * 10


@component
def total(values: list) -> int:
    """Fan-in."""
    return sum(values)


@pipeline(name="spread")
def spread(n: int = 3, gate: str = "/tmp/gate", tally: str = "/tmp/tally"):
    """A parallel-for of which one instance fails until the gate file exists, then a fan-in."""
    p = pieces(n=n)
    with conveyor.ParallelFor(p.output) as i:
        one = piece(i=i, gate=gate, tally=tally)
    total(values=conveyor.Collected(one.output))
