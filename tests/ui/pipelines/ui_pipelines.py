"""Pipelines of the run-page tests: a 100-step graph, a 1,000-instance parallel-for, and a
slow chain to watch while it runs."""

from __future__ import annotations

import time

import conveyor
from conveyor import component, pipeline


@component
def step(x: int, y: int = 0) -> int:
    """Add two numbers (printed, for the log view)."""
    print(f"step: {x} + {y}")
    return x + y + 1


@pipeline(name="hundred")
def hundred():
    """100 steps in 10 layers of 10: each step takes its column's step and its left
    neighbour's (the last column's for the first) of the layer above."""
    above: list = []
    for layer in range(10):
        row = []
        for col in range(10):
            if layer == 0:
                row.append(step(x=col))
            else:
                row.append(step(x=above[col].output, y=above[col - 1].output))
        above = row


@component
def items(n: int) -> list:
    """The items of the fan-out."""
    return list(range(n))


@component
def square(i: int) -> int:
    """One instance of the fan-out."""
    return i * i


@component
def total(values: list) -> int:
    """The fan-in."""
    return sum(values)


@pipeline(name="thousand")
def thousand(n: int = 1000):
    """A parallel-for of ``n`` instances between a source and a sum."""
    source = items(n=n)
    with conveyor.ParallelFor(source.output) as i:
        sq = square(i=i)
    total(values=conveyor.Collected(sq.output))


@component
def nap(seconds: float, x: int = 0, label: str = "nap") -> int:
    """Sleep, printing as it goes (the log tails while it runs)."""
    for tick in range(4):
        print(f"{label} {x}: tick {tick}", flush=True)
        time.sleep(seconds / 4)
    return x + 1


@pipeline(name="naps")
def naps(seconds: float = 1.5):
    """first -> second -> third, and a side step after first, each sleeping ``seconds``."""
    first = nap(seconds=seconds)
    second = nap(seconds=seconds, x=first.output)
    nap(seconds=seconds, x=second.output)
    nap(seconds=seconds, x=first.output, label="side").set_display_name("side")
