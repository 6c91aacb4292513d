"""The predict route's OpenAPI description agrees with the request checks it describes."""

from __future__ import annotations

import json

import jsonschema
import pytest

from conveyor.serve.openapi import predict_operation
from conveyor.serve.requests import BadRequest, columns_of, parse_json

INPUTS = [
    {"name": "x", "type": "FLOAT"},
    {"name": "n", "type": "INT"},
    {"name": "b", "type": "BOOL"},
    {"name": "c", "type": "STRING", "values": ["a", "b"]},
    {"name": "t", "type": "STRING"},
]
SIGNATURE = {"inputs": INPUTS, "outputs": [{"name": "prediction", "type": "INT"}]}
GOOD = {"x": 0.5, "n": 3, "b": True, "c": "a", "t": "free text"}

BODIES = [
    {"rows": [GOOD]},
    {"rows": [GOOD, dict.fromkeys(GOOD)]},  # null: a missing value
    {"columns": {k: [v, None] for k, v in GOOD.items()}},
    {"rows": [{**GOOD, "x": 2}]},  # an integer is a number
    {"rows": [{**GOOD, "n": 2.0}]},  # a number with no fraction is an integer
    {"rows": [{**GOOD, "n": 2.5}]},
    {"rows": []},
    {"rows": [{**GOOD, "c": "z"}]},  # outside the domain
    {"rows": [{**GOOD, "n": 1.5}]},
    {"rows": [{**GOOD, "n": 2**63}]},
    {"rows": [{**GOOD, "b": 1}]},
    {"rows": [{**GOOD, "t": 3}]},
    {"rows": [{k: v for k, v in GOOD.items() if k != "t"}]},
    {"rows": [{**GOOD, "extra": 1}]},
    {"rows": [GOOD], "columns": {}},
    {"columns": {**{k: [v] for k, v in GOOD.items()}, "extra": [1]}},
    {"columns": {k: [] for k in GOOD}},
    {"rows": [1]},
    {},
]


def _validator_accepts(body: object) -> bool:
    try:
        columns_of(parse_json(json.dumps(body).encode()), INPUTS)
    except BadRequest:
        return False
    return True


@pytest.mark.parametrize("body", BODIES, ids=[json.dumps(b)[:50] for b in BODIES])
def test_the_spec_accepts_a_body_exactly_when_the_server_does(body):
    schema = predict_operation(SIGNATURE)["requestBody"]["content"]["application/json"]["schema"]
    spec_accepts = jsonschema.Draft202012Validator(schema).is_valid(body)
    assert spec_accepts == _validator_accepts(body)


def test_the_spec_names_each_input_its_type_and_its_domain():
    schema = predict_operation(SIGNATURE)["requestBody"]["content"]["application/json"]["schema"]
    row = schema["oneOf"][0]["properties"]["rows"]["items"]
    assert row["required"] == ["x", "n", "b", "c", "t"]
    assert row["properties"]["c"]["enum"] == ["a", "b", None]
    assert row["properties"]["n"]["type"] == ["integer", "null"]


def test_every_answer_of_the_route_is_described():
    responses = predict_operation(SIGNATURE)["responses"]
    assert set(responses) == {"200", "400", "401", "404", "413", "422", "503"}
    answer = responses["200"]["content"]["application/json"]["schema"]
    assert answer["properties"]["predictions"]["items"] == {"type": "integer"}
