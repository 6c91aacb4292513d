"""Which produced artifact type may feed an input expecting another."""

from __future__ import annotations

import pytest

from conveyor.types import Artifact, Dataset, Metrics, Model, is_compatible


class _Csv(Dataset):
    schema_title = "tests.compat.Csv"


class _GzipCsv(_Csv):
    schema_title = "tests.compat.GzipCsv"


DATASET = Dataset.type_id()


@pytest.mark.parametrize(
    ("produced", "expected"),
    [
        (DATASET, DATASET),
        (_Csv.type_id(), DATASET),
        (_GzipCsv.type_id(), DATASET),
        (_GzipCsv.type_id(), _Csv.type_id()),
        (Model.type_id(), Artifact.type_id()),
        ("acme.Unknown@9.9.9", Artifact.type_id()),
    ],
    ids=["same", "subclass", "grandchild", "child", "any-into-generic", "unknown-into-generic"],
)
def test_is_compatible_accepts(produced: str, expected: str) -> None:
    assert is_compatible(produced, expected)


@pytest.mark.parametrize(
    ("produced", "expected"),
    [
        (Model.type_id(), DATASET),
        (DATASET, _Csv.type_id()),
        (Artifact.type_id(), DATASET),
        (Metrics.type_id(), Model.type_id()),
        ("acme.Unknown@9.9.9", DATASET),
        (DATASET, "acme.Unknown@9.9.9"),
        ("conveyor.Dataset@2.0.0", DATASET),
    ],
    ids=[
        "sibling",
        "parent-into-child",
        "generic-into-specific",
        "metrics-into-model",
        "unknown-produced",
        "unknown-expected",
        "other-version",
    ],
)
def test_is_compatible_rejects(produced: str, expected: str) -> None:
    assert not is_compatible(produced, expected)
