"""A pipeline that imports an external file."""

from __future__ import annotations

from conveyor import Dataset, Input, component, pipeline
from conveyor.components import import_dataset


@component
def line_count(data: Input[Dataset]) -> int:
    """Lines in the imported file."""
    with open(data.path) as fh:
        return sum(1 for _ in fh)


@pipeline(name="imports")
def imports(path: str):
    """import_dataset -> line_count."""
    raw = import_dataset(path=path)
    line_count(data=raw.outputs["data"])
