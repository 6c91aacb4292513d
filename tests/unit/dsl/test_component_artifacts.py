"""``@component`` reads ``Input[T]`` / ``Output[T]`` annotations as typed artifact slots."""

from __future__ import annotations

from conveyor import Artifact, Dataset, Input, Metrics, Model, Output, component
from conveyor.ir import ArtifactSpec


class Images(Dataset):
    """A user-defined artifact type."""

    schema_title = "tests.component.Images"
    schema_version = "0.3.0"


@component
def train(data: Input[Dataset], model: Output[Model], metrics: Output[Metrics]) -> None:
    """Reads a data set, writes a model and metrics."""


@component
def bare(data: Dataset) -> None:
    """A bare artifact class."""


@component
def augment(images: Input[Images], out: Output[Images]) -> None:
    """A user-defined type in and out."""


@component
def join(parts: Input[list[Dataset]], anything: Input[list[Artifact]]) -> None:
    """Fan-in inputs."""


@component
def compare(
    data: Input[Dataset],
    baseline: Input[Model] | None = None,
    extra: Input[Dataset] = None,  # type: ignore[assignment]
) -> None:
    """Optional inputs."""


def test_component_records_input_and_output_artifacts_by_type_id() -> None:
    assert train.spec.input_artifacts == {"data": ArtifactSpec("conveyor.Dataset@1.0.0")}
    assert train.spec.output_artifacts == {
        "model": ArtifactSpec("conveyor.Model@1.0.0"),
        "metrics": ArtifactSpec("conveyor.Metrics@1.0.0"),
    }
    assert train.spec.input_parameters == {}


def test_component_reads_a_bare_artifact_annotation_as_an_input() -> None:
    assert bare.spec.input_artifacts == {"data": ArtifactSpec("conveyor.Dataset@1.0.0")}


def test_component_records_a_user_defined_type_by_its_identity() -> None:
    assert augment.spec.input_artifacts["images"].type == "tests.component.Images@0.3.0"
    assert augment.spec.output_artifacts["out"].type == "tests.component.Images@0.3.0"


def test_component_reads_input_list_of_artifacts_as_a_fan_in_input() -> None:
    assert join.spec.input_artifacts == {
        "parts": ArtifactSpec("conveyor.Dataset@1.0.0", is_list=True),
        "anything": ArtifactSpec("conveyor.Artifact@1.0.0", is_list=True),
    }


def test_component_marks_an_input_defaulting_to_none_optional() -> None:
    arts = compare.spec.input_artifacts

    assert not arts["data"].optional
    assert arts["baseline"] == ArtifactSpec("conveyor.Model@1.0.0", optional=True)
    assert arts["extra"] == ArtifactSpec("conveyor.Dataset@1.0.0", optional=True)
