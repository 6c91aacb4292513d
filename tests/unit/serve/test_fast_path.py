"""The fast request path (orjson, column-wise checks, features built without Arrow, orjson
answers) gives exactly what the plain path gives: the same values, the same errors."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from starlette.responses import JSONResponse

from conveyor.data.model import DataSchema, FeatureSchema, FeatureType
from conveyor.model.columns import columns_matrix
from conveyor.model.saved import LoadedModel, load_model, save_model
from conveyor.model.transform import TransformOptions, fit_transform
from conveyor.serve.predict import AnswerResponse, predict_columns
from conveyor.serve.requests import BadRequest, columns_of, parse_json

SCHEMA = DataSchema(
    [
        FeatureSchema("x", FeatureType.FLOAT),
        FeatureSchema("n", FeatureType.INT),
        FeatureSchema("c", FeatureType.STRING, values=["a", "b", "ü"]),
        FeatureSchema("t", FeatureType.STRING),
        FeatureSchema("y", FeatureType.STRING),
    ]
)
INPUTS = [
    {"name": "x", "type": "FLOAT"},
    {"name": "n", "type": "INT"},
    {"name": "b", "type": "BOOL"},
    {"name": "c", "type": "STRING", "values": ["a", "b"]},
    {"name": "t", "type": "STRING"},
]
GOOD = {"x": 0.5, "n": 3, "b": True, "c": "a", "t": "free text"}
ENCODINGS = {  # every step kind the fast path covers, and one it leaves to Arrow
    "default": {},
    "ordinal": {"c": "ordinal", "x": "bucketize", "n": "impute"},
    "hashed": {"c": "hash", "t": "onehot"},
}


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except BadRequest as exc:
        return "bad", (exc.status, exc.message, [p.to_dict() for p in exc.problems])
    except Exception as exc:  # the plain path's own errors must be the fast path's too
        return "error", (type(exc).__name__, str(exc))


def _same(a: tuple[str, Any], b: tuple[str, Any]) -> bool:
    """Equal, with the types of numbers compared too (1 and 1.0 are not the same answer)."""
    return a == b and repr(a) == repr(b)


BODIES = [
    b'{"rows": [{"x": 1}]}',
    b'{"rows": [{"x": 1e400}]}',
    b'{"rows": [{"x": -1e400, "n": 12345678901234567890123}]}',
    b'{"rows": [{"n": 9223372036854775808}, {"n": -9223372036854775809}]}',
    b'{"rows": [{"n": 18446744073709551615}, {"n": 1.5e3}, {"n": -0}]}',
    b'{"rows": [{"x": NaN}]}',
    b'{"rows": [{"x": Infinity}]}',
    b'{"rows": [{"t": "\\ud800"}]}',
    b'{"rows": [{"t": "\\u00fc\\u0000 \xc3\xbc"}]}',
    b'\xef\xbb\xbf{"rows": []}',
    '{"rows": [{"t": "utf-16"}]}'.encode("utf-16"),
    b'{"a": 1, "a": 2}',
    b'{"rows": [1,]}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"rows": [0.30000000000000004441, 1e-400, 123456789012345678901234567890.5]}',
    b'{"rows": "\xff"}',
    b"   ",
]


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_parse_json_reads_and_refuses_as_the_standard_parser(body):
    assert _same(_outcome(lambda: parse_json(body)), _outcome(lambda: parse_json(body, fast=False)))


VALUES = [None, 0, 1, -1, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**70, 0.0, -0.0]
VALUES += [1.5, 1e308, math.inf, -math.inf, math.nan, True, False, "a", "b", "z", "", "ü"]
VALUES += ["\ud800", [], {}, [1], {"a": 1}]


def _requests() -> list[Any]:
    rows: list[Any] = [{"rows": [GOOD]}, {"rows": [GOOD, dict.fromkeys(GOOD)]}]
    for field in GOOD:
        rows.append({"rows": [{**GOOD, field: v} for v in VALUES]})
        rows.append({"columns": {**{k: [v] * len(VALUES) for k, v in GOOD.items()}, field: VALUES}})
    rows.append({"rows": [GOOD, {**GOOD, "extra": 1}, {k: GOOD[k] for k in ("x", "n")}, 3]})
    rows.append({"rows": [{**GOOD, "n": 1.5}] * 150})  # past the problem limit
    rows.append({"rows": [{**GOOD, "x": "1", "n": "2", "c": 3, "b": 1}] * 30})
    rows.append({"rows": [GOOD], "columns": {}})
    rows.append({"columns": {k: [] for k in GOOD}})
    rows.append({"rows": [[1, 2]]})
    return rows


@pytest.mark.parametrize("data", _requests(), ids=range(len(_requests())))
def test_columns_of_checks_as_value_by_value_checks(data):
    fast = _outcome(lambda: columns_of(data, INPUTS))
    plain = _outcome(lambda: columns_of(data, INPUTS, fast=False))
    assert _same(fast, plain)


def _table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    n = rng.integers(0, 10, rows)
    c = rng.choice(["a", "b", "ü"], rows)
    t = rng.choice(["red", "blue", "green"], rows)
    y = np.where(x + (c == "a") + n / 10 > 0.8, "yes", "no")
    return pa.table({"x": x, "n": n, "c": c, "t": t, "y": y})


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, LoadedModel]:
    root = tmp_path_factory.mktemp("models")
    table = _table(400, 0)
    found = {}
    for name, encodings in ENCODINGS.items():
        fitted = fit_transform(table, SCHEMA, "y", TransformOptions(encodings=encodings))
        x = fitted.matrix(table)
        labels = np.asarray(table.column("y").to_pylist())
        classifier = LogisticRegression().fit(x, (labels == "yes").astype(int))
        path = str(root / name)
        save_model(path, classifier, fitted, task="classification", label="y",
                   classes=["no", "yes"], schema=SCHEMA)  # fmt: skip
        found[name] = load_model(path)
    fitted = fit_transform(table, SCHEMA, "y")
    regressor = LinearRegression().fit(fitted.matrix(table), table.column("x").to_numpy())
    save_model(str(root / "regression"), regressor, fitted, task="regression", label="y")
    found["regression"] = load_model(str(root / "regression"))
    return found


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {k: [r[k] for r in rows] for k in ("x", "n", "c", "t")}


CASES = {
    "sample": _columns(_table(300, 1).drop(["y"]).to_pylist()),
    "one row": {"x": [0.25], "n": [4], "c": ["ü"], "t": ["blue"]},
    "missing": {"x": [None, 1.0], "n": [None, 2], "c": [None, "b"], "t": [None, None]},
    "unseen": {"x": [1e300, -0.0], "n": [-(2**53), 2**53], "c": ["zz", ""], "t": ["", "ü ✓"]},
    "past 2**53": {"x": [2**60], "n": [2**53 + 1], "c": ["a"], "t": ["red"]},
    "surrogate": {"x": [1.0], "n": [1], "c": ["\ud800"], "t": ["\udfff"]},
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("model", [*ENCODINGS, "regression"])
def test_predict_columns_fast_and_plain_answer_alike(models, model, case):
    loaded, columns = models[model], CASES[case]
    fast = _outcome(lambda: predict_columns(loaded, columns))
    plain = _outcome(lambda: predict_columns(loaded, columns, fast=False))
    assert _same(fast, plain), (fast, plain)


def test_the_fast_features_are_the_transforms_bit_for_bit_or_none(models):
    types = {"x": "FLOAT", "n": "INT", "c": "STRING", "t": "STRING"}
    for model in models.values():
        for name, columns in CASES.items():
            fast = columns_matrix(model.transform, columns, types)
            if name in ("past 2**53", "surrogate"):
                assert fast is None, name  # left to Arrow, which refuses them
                continue
            assert fast is not None, name
            table = pa.table({k: pa.array(v) for k, v in columns.items()})
            np.testing.assert_array_equal(fast, model.transform.matrix(table))


def test_a_user_preprocessing_function_is_left_to_the_arrow_path(models):
    transform = models["default"].transform
    transform_with_fn = type(transform)(
        transform.label, transform.steps, "json:loads", transform.inputs
    )
    assert columns_matrix(transform_with_fn, CASES["one row"], {"x": "FLOAT"}) is None


@pytest.mark.parametrize(
    "content",
    [
        {"predictions": ["no", "yes"], "probabilities": [{"no": 0.25, "yes": 0.75}] * 2},
        {"predictions": [1e-05, -0.0, 1e300, 2.5], "model": "m", "version": None},
        {"predictions": [1, True, None, "ü ✓", "\u2028"], "model": "m", "version": "3"},
    ],
)
def test_answers_render_to_the_same_json_value(content):
    fast, plain = AnswerResponse(content).body, JSONResponse(content).body
    assert json.loads(fast) == json.loads(plain) == content


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_an_answer_json_cannot_hold_is_refused_as_before(bad):
    for content in ({"predictions": [1.0, bad]}, {"probabilities": [{"a": bad, "b": 0.5}]}):
        with pytest.raises(ValueError, match="JSON compliant"):
            JSONResponse(content)
        with pytest.raises(ValueError, match="JSON compliant"):
            AnswerResponse(content)


def test_huge_finite_answers_are_rendered(tmp_path: Path):
    content = {"predictions": [1.7e308, 1.7e308]}  # their sum overflows: the plain encoder
    assert json.loads(AnswerResponse(content).body) == content


def _guards(model: LoadedModel, token: str | None) -> tuple[Any, Any]:
    """The server's application (predict straight to its endpoint) and the same application
    with every request through FastAPI."""
    from conveyor.serve.app import ServeConfig, _Guard, create_app

    config = ServeConfig(path=model.path, name="m", version="7", token=token, max_body_bytes=4096)
    direct = create_app(config)
    direct.app.state.conveyor.load()  # what the lifespan's thread does
    assert direct.predict is not None
    return direct, _Guard(direct.app, direct.state, token, None)


ROUTE_CASES = [
    ("POST", "/v1/models/m:predict", json.dumps({"rows": [GOOD]}).encode()),
    ("POST", "/v1/models/m:predict", json.dumps({"columns": CASES["missing"]}).encode()),
    ("POST", "/v1/models/m:predict", json.dumps({"rows": [{**GOOD, "n": 1.5, "z": 1}]}).encode()),
    ("POST", "/v1/models/m:predict", b""),
    ("POST", "/v1/models/m:predict", b"{"),
    ("POST", "/v1/models/m:predict", b"[" + b"1," * 5000 + b"1]"),  # over the 4,096 bytes
    ("POST", "/v1/models/other:predict", b"{}"),
    ("POST", "/v1/models/m:predictx", b"{}"),
    ("GET", "/v1/models/m:predict", b""),
    ("PUT", "/v1/models/m:predict", b"{}"),
    ("GET", "/healthz", b""),
]


@pytest.mark.parametrize("token", [None, "s3cret"])
def test_predict_straight_to_its_endpoint_answers_as_through_fastapi(models, token):
    import asyncio

    import httpx

    direct, plain = _guards(models["default"], token)

    async def answers(app: Any) -> list[tuple[int, str | None, Any]]:
        transport = httpx.ASGITransport(app=app)
        got = []
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for auth in ({}, {"Authorization": "Bearer s3cret"}):
                for method, path, body in ROUTE_CASES:
                    r = await client.request(method, path, content=body, headers=auth)
                    kind = r.headers.get("content-type")
                    got.append(
                        (r.status_code, kind, r.json() if "json" in (kind or "") else r.text)
                    )
        return got

    through_fastapi: list[tuple[str, str]] = []
    fastapi_app = direct.app

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        through_fastapi.append((scope["method"], scope["path"]))
        await fastapi_app(scope, receive, send)

    direct.app = counted
    fast, reference = asyncio.run(answers(direct)), asyncio.run(answers(plain))
    assert fast == reference
    statuses = {status for status, _, _ in fast}
    assert {200, 400, 404, 405, 413, 422} | ({401} if token else set()) <= statuses
    # the predict posts went straight to the endpoint, the rest through FastAPI
    assert all(not (m == "POST" and p.endswith(":predict")) for m, p in through_fastapi)
    assert ("GET", "/healthz") in through_fastapi and (
        "PUT",
        "/v1/models/m:predict",
    ) in through_fastapi


def test_an_http_exception_from_the_endpoint_is_answered_as_fastapi_answers_it(models):
    import asyncio

    import httpx
    from starlette.exceptions import HTTPException

    direct, _ = _guards(models["default"], None)

    async def teapot(name: str, request: Any) -> Any:
        raise HTTPException(418, f"no {name} here")

    direct.predict.endpoint = teapot

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=direct)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post("/v1/models/m:predict", content=b"{}")

    response = asyncio.run(post())
    assert (response.status_code, response.json()) == (418, {"detail": "no m here"})


@pytest.mark.parametrize("labels", [["no", "yes"], ["a", "b", "c"], ["only"]])
def test_probabilities_by_label_are_the_rows_zipped_with_the_labels(labels):
    from conveyor.serve.predict import _by_label

    proba = np.random.default_rng(0).random((5, len(labels)))
    got = _by_label(labels, proba)
    assert got == [dict(zip(labels, row, strict=True)) for row in proba.tolist()]
    assert [list(row) for row in got] == [labels] * 5  # the labels' order, as before
