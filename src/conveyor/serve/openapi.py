"""The OpenAPI description of a model's predict route, made from the model's own inputs.

A client generator, a contract-testing tool or a reader of ``/docs`` sees every input with
its type, that ``null`` is a missing value, the values of a domain the training schema
pinned, and the shape of the answer. The request checks (:mod:`conveyor.serve.requests`)
enforce the same rules; this is their description, not a second validator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI

__all__ = ["describe_predict", "predict_operation"]

_INT64 = {"minimum": -(2**63), "maximum": 2**63 - 1}
_ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "problems": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "row": {"type": ["integer", "null"]},
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
    "required": ["error"],
}


def _value(item: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema of one value of input ``item`` (``null``: missing)."""
    kind = str(item.get("type"))
    if kind == "INT":
        return {"type": ["integer", "null"], **_INT64}
    if kind == "FLOAT":
        return {"type": ["number", "null"]}
    if kind == "BOOL":
        return {"type": ["boolean", "null"]}
    values = item.get("values")
    if values is not None:
        return {"type": ["string", "null"], "enum": [*values, None]}
    return {"type": ["string", "null"]}


def _request(inputs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    names = [str(i["name"]) for i in inputs]
    row = {
        "type": "object",
        "properties": {str(i["name"]): _value(i) for i in inputs},
        "required": names,
        "additionalProperties": False,
    }
    columns = {
        "type": "object",
        "properties": {
            str(i["name"]): {"type": "array", "items": _value(i), "minItems": 1} for i in inputs
        },
        "required": names,
        "additionalProperties": False,
    }
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "properties": {"rows": {"type": "array", "items": row, "minItems": 1}},
                            "required": ["rows"],
                            "additionalProperties": False,
                        },
                        {
                            "type": "object",
                            "properties": {"columns": columns},
                            "required": ["columns"],
                            "additionalProperties": False,
                        },
                    ]
                }
            }
        },
    }


def _answer(outputs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    prediction = next((o for o in outputs if o.get("name") == "prediction"), {})
    value_type = {"INT": "integer", "FLOAT": "number", "BOOL": "boolean"}
    properties: dict[str, Any] = {
        "predictions": {
            "type": "array",
            "items": {"type": value_type.get(str(prediction.get("type")), "string")},
        },
        "model": {"type": "string"},
        "version": {"type": ["string", "null"]},
        "role": {"type": "string", "enum": ["primary", "canary"]},
    }
    if any(o.get("name") == "probabilities" for o in outputs):
        properties["probabilities"] = {
            "type": "array",
            "items": {"type": "object", "additionalProperties": {"type": "number"}},
        }
    return {
        "type": "object",
        "properties": properties,
        "required": ["predictions", "model", "role"],
    }


def predict_operation(signature: Mapping[str, Any]) -> dict[str, Any]:
    """The ``openapi_extra`` of the predict route for a model of ``signature``: its request
    body and its answers (an empty signature describes any object, as an unreadable model's
    server still answers 503 with a reason)."""
    inputs = list(signature.get("inputs") or [])
    outputs = list(signature.get("outputs") or [])
    error = {"content": {"application/json": {"schema": _ERROR}}}
    body = _request(inputs) if inputs else {"required": True, "content": {"application/json": {
        "schema": {"type": "object"}}}}  # fmt: skip
    return {
        "requestBody": body,
        "responses": {
            "200": {
                "description": "One prediction per row",
                "content": {"application/json": {"schema": _answer(outputs)}},
            },
            "400": {"description": "The body is not a prediction request", **error},
            "401": {"description": "A token is needed and was not given or is wrong", **error},
            "404": {"description": "The server serves no model of that name", **error},
            "413": {"description": "The body is larger than the server takes", **error},
            "422": {"description": "Fields that do not match the model's inputs", **error},
            "503": {"description": "The model is not loaded (yet)", **error},
        },
    }


def describe_predict(app: FastAPI, route: str, signature: Mapping[str, Any]) -> None:
    """Make ``app``'s OpenAPI spec describe ``route`` (a POST) with :func:`predict_operation`:
    its request body and every answer it gives, in place of FastAPI's generic ones (the route
    reads its body itself, and never answers FastAPI's validation error)."""
    generate = app.openapi
    operation = predict_operation(signature)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = generate()
            spec["paths"][route]["post"].update(operation)
            schemas = spec.get("components", {}).get("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            if "components" in spec and not schemas:
                spec["components"].pop("schemas", None)
                if not spec["components"]:
                    del spec["components"]
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
