"""The REST API reference in docs/ is the app's own OpenAPI spec, written out; every route
says what it does."""

from __future__ import annotations

from ui_support import REPO

from conveyor.ui.apidoc import api_reference, openapi_spec

REFERENCE = REPO / "docs" / "ui-api.md"


def test_the_api_reference_is_current():
    assert REFERENCE.read_text(encoding="utf-8") == api_reference(), (
        "docs/ui-api.md is stale: run `python -m conveyor.ui.apidoc > docs/ui-api.md`"
    )


def test_every_route_is_under_api_v1_and_describes_itself():
    spec = openapi_spec()
    assert spec["paths"]
    for path, item in spec["paths"].items():
        assert path.startswith("/api/v1/"), path
        for method, op in item.items():
            assert (op.get("description") or "").strip(), (
                f"{method.upper()} {path} has no docstring"
            )
