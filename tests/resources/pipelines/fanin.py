"""Static fan-in: many artifact outputs into ``Input[list[T]]`` and many values into a list."""

from __future__ import annotations

from conveyor import Dataset, Input, Output, component, pipeline


@component
def source(out: Output[Dataset]) -> None:
    """The shared input."""
    out.write_text("0")


@component
def work(x: Input[Dataset], i: int, out: Output[Dataset]) -> int:
    """One parallel step."""
    out.write_text(str(i))
    return i


@component
def join(parts: Input[list[Dataset]], counts: list[int], scale: float = 1.0) -> float:
    """Combine every parallel result."""
    return scale * sum(counts) + len(parts)


@pipeline(name="fanin")
def fanin(width: int = 3, scale: float = 2.0) -> None:
    """source, three parallel work steps, join."""
    s = source()
    steps = [work(x=s.outputs["out"], i=i) for i in range(3)]
    join(
        parts=[t.outputs["out"] for t in steps],
        counts=[steps[0].outputs["Output"], width, 7],
        scale=scale,
    )
