"""An artifact type's identity is ``schema_title@schema_version``."""

from __future__ import annotations

import pytest

from conveyor.types import HTML, Artifact, Dataset, Markdown, Metrics, Model, artifact_type


@pytest.mark.parametrize(
    ("cls", "type_id"),
    [
        (Artifact, "conveyor.Artifact@1.0.0"),
        (Dataset, "conveyor.Dataset@1.0.0"),
        (Model, "conveyor.Model@1.0.0"),
        (Metrics, "conveyor.Metrics@1.0.0"),
        (HTML, "conveyor.HTML@1.0.0"),
        (Markdown, "conveyor.Markdown@1.0.0"),
    ],
)
def test_type_id_of_a_builtin_type(cls: type[Artifact], type_id: str) -> None:
    assert cls.type_id() == type_id
    assert artifact_type(type_id) is cls


def test_type_id_of_a_subclass_inherits_the_version_it_does_not_set() -> None:
    class Parquet(Dataset):
        schema_title = "tests.identity.Parquet"

    assert Parquet.type_id() == "tests.identity.Parquet@1.0.0"


def test_subclass_without_its_own_title_keeps_the_parent_identity_and_does_not_replace_it() -> None:
    class LocalRows(Dataset):
        """A helper subclass with no identity of its own."""

    assert LocalRows.type_id() == Dataset.type_id()
    assert artifact_type(Dataset.type_id()) is Dataset
