"""``artifact_type`` resolves any identity, to a generic class when no class is known."""

from __future__ import annotations

from conveyor.types import Artifact, artifact_type
from conveyor.types.artifacts import resolve_type


def test_artifact_type_of_an_unknown_identity_is_a_generic_artifact_with_that_identity() -> None:
    cls = artifact_type("acme.lookup.Embeddings@3.2.1")

    assert issubclass(cls, Artifact)
    assert cls.type_id() == "acme.lookup.Embeddings@3.2.1"
    assert cls.__name__ == "Embeddings"
    assert cls(name="e", path="/tmp/e").path == "/tmp/e"


def test_artifact_type_returns_the_same_generic_class_every_time() -> None:
    assert artifact_type("acme.lookup.Same@1.0.0") is artifact_type("acme.lookup.Same@1.0.0")


def test_artifact_type_of_an_identity_without_a_version_defaults_it() -> None:
    assert artifact_type("acme.lookup.NoVersion").type_id() == "acme.lookup.NoVersion@1.0.0"


def test_resolve_type_is_an_alias_of_artifact_type() -> None:
    assert resolve_type("conveyor.Model@1.0.0") is artifact_type("conveyor.Model@1.0.0")
