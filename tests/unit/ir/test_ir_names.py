"""An IR document whose pipeline, task or output names would leave their folder is refused."""

from __future__ import annotations

import json

import pytest

from conveyor import Dataset, Output, component, pipeline
from conveyor.errors import PipelineValidationError
from conveyor.ir import dumps, loads, validate


@component
def make(data: Output[Dataset]) -> None:
    data.path  # noqa: B018 - never run


@pipeline(name="names")
def names() -> None:
    make()


def _renamed(edit: str) -> str:
    doc = json.loads(dumps(names.spec))
    if edit == "pipeline":
        doc["pipeline"]["name"] = "../x"
    elif edit == "task":
        doc["tasks"]["../../x"] = doc["tasks"].pop("make")
    elif edit == "output":
        outputs = doc["components"]["make"]["outputs"]["artifacts"]
        outputs["/etc/x"] = outputs.pop("data")
    elif edit == "long task":
        doc["tasks"]["t" * 256] = doc["tasks"].pop("make")
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("pipeline", "pipeline name '../x' is not a valid name"),
        ("task", "task name '../../x' is not a valid name"),
        ("output", "output of component 'make' '/etc/x' is not a valid name"),
        ("long task", "is too long: 256 bytes"),
    ],
)
def test_validate_refuses_an_ir_whose_names_would_leave_their_folder(
    edit: str, message: str
) -> None:
    spec = loads(_renamed(edit))

    with pytest.raises(PipelineValidationError) as info:
        validate(spec)

    assert message in str(info.value)
    assert r"pattern \w[\w.-]*" in str(info.value) or "too long" in str(info.value)
