"""The control-flow engine alone: how its decisions scale with the number of instances.

A simulated runner drives ``conveyor.execution.flow.Flow`` over a parallel-for of N trivial
items and a fan-in (no processes, no metadata, no files): each item's step "finishes" as
soon as the flow launches it, then the flow is asked again, as the local orchestrator does.
With ``parallelism=2`` the flow is consulted about N/2 times, so any work per consultation
that grows with N shows up as a quadratic total. Median of ``--reps``.

    python bench/flow_engine.py                  # N = 1,000 / 3,000 / 10,000
    python bench/flow_engine.py --sizes 500 5000 --reps 5
"""

from __future__ import annotations

import argparse
import statistics
import time

from conveyor.execution.flow import Flow, Launch
from conveyor.execution.results import TaskOutputs
from conveyor.ir.spec import (
    CollectedRef,
    ComponentSpec,
    Constant,
    GroupSpec,
    Implementation,
    LoopItemRef,
    ParameterSpec,
    PipelineSpec,
    TaskSpec,
)
from conveyor.metadata.entities import ExecutionState

ANY = ParameterSpec("any", default=None, nullable=True)


def fan_spec(n: int, parallelism: int | None) -> PipelineSpec:
    """``with ParallelFor(range(n), parallelism) as i: square(x=i)``, then ``total``."""

    def comp(name: str, inp: str) -> ComponentSpec:
        return ComponentSpec(
            name, Implementation("bench", name), input_parameters={inp: ANY},
            output_parameters={"out": ANY},
        )  # fmt: skip

    return PipelineSpec(
        "fan",
        components={"square": comp("square", "x"), "total": comp("total", "xs")},
        tasks={
            "square": TaskSpec("square", "square", {"x": LoopItemRef("each")}, group="each"),
            "total": TaskSpec(
                "total",
                "total",
                {"xs": CollectedRef("square", "out", "each")},
                depends_on=("square",),
            ),
        },
        groups={
            "each": GroupSpec(
                "each", "parallel_for", items=Constant(list(range(n))), parallelism=parallelism
            )
        },
    )


def drive(spec: PipelineSpec) -> int:
    """Run the flow to its end with every launch finishing at once; the launches made."""
    flow = Flow(spec, {})
    launched = 0
    while True:
        decisions = flow.advance()
        if not decisions:
            return launched
        for d in decisions:
            if isinstance(d, Launch):
                launched += 1
                flow.finish(d.instance.name, ExecutionState.COMPLETE, TaskOutputs({"out": 1}))


def main(argv: list[str] | None = None) -> int:
    """Print the median time per size and parallelism, and instances per second."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10000])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'items':>7} {'parallelism':>11} {'median s':>9} {'instances/s':>12}")
    for n in args.sizes:
        for parallelism in (None, 2):
            spec = fan_spec(n, parallelism)
            times = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                launched = drive(spec)
                times.append(time.perf_counter() - t0)
                assert launched == n + 1, launched
            median = statistics.median(times)
            label = "none" if parallelism is None else str(parallelism)
            print(f"{n:>7} {label:>11} {median:>9.3f} {launched / median:>12,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
