"""A metadata-reading step declared twice: in the orchestrator's process and in a worker."""

from __future__ import annotations

import json
import os

from conveyor import Artifact, Dataset, Input, Output, component, pipeline
from conveyor.execution.context import current_pipeline, current_task


@component
def produce(data: Output[Dataset]) -> None:
    with open(data.path, "w") as fh:
        fh.write("rows\n")


def _look_up(data: Input[Dataset], found: Output[Artifact]) -> int:
    """Read the store as a resolver does; say where it ran."""
    ctx = current_task()
    assert ctx is not None
    datasets = ctx.metadata.list_artifacts(type_name=data.type_id())
    seen = {
        "pipeline": current_pipeline(),
        "datasets": len(datasets),
        "input": data.fingerprint,
        "newest": datasets[0].uri == data.uri,
    }
    with open(found.path, "w") as fh:
        json.dump(seen, fh, sort_keys=True)
    found.metadata.update(seen)
    print(f"looked up {len(datasets)} datasets")
    return os.getpid()


@component(cache=False, in_process=True)
def look_up_here(data: Input[Dataset], found: Output[Artifact]) -> int:
    """In the orchestrator's process."""
    return _look_up(data, found)


@component(cache=False)
def look_up_in_worker(data: Input[Dataset], found: Output[Artifact]) -> int:
    """In a worker."""
    return _look_up(data, found)


@pipeline(name="resolvers")
def resolvers() -> None:
    data = produce().outputs["data"]
    look_up_here(data=data)
    look_up_in_worker(data=data)
