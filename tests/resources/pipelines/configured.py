"""Every task option, ``.after()``, NamedTuple outputs, Literal and optional inputs, a user type."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from conveyor import Artifact, Dataset, Input, Model, Output, component, pipeline


class CsvDataset(Dataset):
    """A user-defined subtype of Dataset."""

    schema_title = "tests.CsvDataset"
    schema_version = "2.0.0"


class Scores(NamedTuple):
    best: float
    rounds: int


@component(
    name="load-csv",
    cpu=2,
    memory="1Gi",
    gpu=1,
    gpu_type="nvidia-l4",
    packages=["pandas==2.2.2"],
    base_image="python:3.11-slim",
    cache=False,
)
def load_csv(rows: Output[CsvDataset], delimiter: str = ",") -> None:
    """Write a CSV file."""
    rows.write_text(delimiter)


@component(retries=3, retry_backoff_seconds=0.5, retry_backoff_factor=3, timeout=30.0)
def tune(
    data: Input[Dataset],
    model: Output[Model],
    mode: Literal["fast", "full"] = "fast",
    seeds: list[int] | None = None,
    extra: dict[str, Any] | None = None,
    baseline: Input[Model] | None = None,
) -> Scores:
    """Search hyper-parameters."""
    return Scores(best=0.5, rounds=len(seeds or []))


@component
def report(anything: Input[Artifact], best: float, rounds: int, title: str = "Report") -> str:
    """Render a short summary."""
    return f"{title}: {best} after {rounds}"


@component
def cleanup() -> None:
    """Remove scratch files."""


@pipeline(name="configured")
def configured(mode: Literal["fast", "full"] = "fast", verbose: bool = False) -> None:
    """Options everywhere."""
    rows = load_csv(delimiter=";")
    tuned = tune(data=rows.outputs["rows"], mode=mode, seeds=[1, 2, 3])
    tuned.set_retry(1, backoff_seconds=2).set_timeout(120).set_display_name("Tune the model")
    tuned.set_resources(cpu=4, memory="8Gi")
    done = report(
        anything=tuned.outputs["model"],
        best=tuned.outputs["best"],
        rounds=tuned.outputs["rounds"],
    ).set_caching(False)
    cleanup().after(done, rows)
