"""User-defined artifact types register themselves under their identity."""

from __future__ import annotations

from conveyor.types import Artifact, Dataset, artifact_type, is_artifact_type, registered_types


def test_user_type_registers_itself_when_defined() -> None:
    class Embeddings(Artifact):
        schema_title = "tests.registration.Embeddings"
        schema_version = "2.1.0"

    assert registered_types()["tests.registration.Embeddings@2.1.0"] is Embeddings
    assert artifact_type("tests.registration.Embeddings@2.1.0") is Embeddings


def test_two_versions_of_a_type_are_two_registered_identities() -> None:
    class V1(Dataset):
        schema_title = "tests.registration.Table"
        schema_version = "1.0.0"

    class V2(Dataset):
        schema_title = "tests.registration.Table"
        schema_version = "2.0.0"

    assert artifact_type("tests.registration.Table@1.0.0") is V1
    assert artifact_type("tests.registration.Table@2.0.0") is V2


def test_registered_types_returns_a_copy() -> None:
    types = registered_types()
    types.clear()

    assert "conveyor.Dataset@1.0.0" in registered_types()


def test_is_artifact_type_is_true_only_for_artifact_classes() -> None:
    assert is_artifact_type(Dataset)
    assert is_artifact_type(Artifact)
    assert not is_artifact_type(Dataset())
    assert not is_artifact_type(int)
    assert not is_artifact_type("conveyor.Dataset@1.0.0")
