"""``conveyor ui``: the server, its assets and its guards, over a real socket."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from ui_support import UIServer, clean_env, start_ui

from conveyor.ui.routes.system import redact_url


def test_the_api_describes_itself_and_serves_the_pages_and_assets(ui_server: UIServer):
    info = ui_server.api("/info")
    timed = ui_server.client.get("/api/v1/info")
    assert timed.headers["server-timing"].startswith("app;dur=")
    assert 0 < float(timed.headers["server-timing"].partition("dur=")[2]) < 60_000
    assert info["token_required"] is False
    assert info["metadata_url"].endswith("metadata.db")
    spec = ui_server.api("/openapi.json")
    assert spec["info"]["title"] == "Conveyor"
    assert "/api/v1/info" in spec["paths"]
    for page in ("/", "/runs", "/runs/some-run", "/pipelines/p", "/artifacts/3"):
        response = ui_server.client.get(page)
        assert response.status_code == 200, page
        assert '<main id="main">' in response.text
        assert "script-src 'self'" in response.headers["content-security-policy"]
    js = ui_server.client.get("/static/js/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    missing = ui_server.client.get("/api/v1/no-such-route")
    assert missing.status_code == 404 and "error" in missing.json()
    # no interactive docs: FastAPI's pages load their scripts from a CDN
    assert "cdn" not in ui_server.client.get("/docs").text.lower()


def test_a_loopback_server_refuses_other_host_names(ui_server: UIServer):
    rebound = ui_server.client.get("/api/v1/info", headers={"Host": "evil.example:8080"})
    assert rebound.status_code == 421
    assert "loopback" in rebound.json()["error"]
    assert ui_server.client.get("/api/v1/info", headers={"Host": "localhost"}).status_code == 200


def test_changes_need_the_csrf_header_and_a_same_site_origin(ui_server: UIServer):
    bare = httpx.post(f"{ui_server.url}/api/v1/info")
    assert bare.status_code == 403
    assert "X-Conveyor-CSRF" in bare.json()["error"]
    cross = ui_server.client.post("/api/v1/info", headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403 and "cross-site" in cross.json()["error"]
    # a cookie from the server must match the header
    first = httpx.get(f"{ui_server.url}/runs")
    cookie = first.cookies["conveyor_csrf"]
    wrong = httpx.post(
        f"{ui_server.url}/api/v1/info", cookies={"conveyor_csrf": cookie},
        headers={"X-Conveyor-CSRF": "other"},
    )  # fmt: skip
    assert wrong.status_code == 403
    right = httpx.post(
        f"{ui_server.url}/api/v1/info", cookies={"conveyor_csrf": cookie},
        headers={"X-Conveyor-CSRF": cookie, "Origin": ui_server.url},
    )  # fmt: skip
    assert right.status_code == 405  # past the guard: the route takes GET only


def test_a_token_guards_every_route_but_the_probe(project: Path):
    server = start_ui(project, "--token", "s3cret")
    try:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        refused = httpx.get(f"{server.url}/api/v1/info")
        assert refused.status_code == 401 and "token" in refused.json()["error"]
        assert httpx.get(f"{server.url}/runs").status_code == 401
        ok = httpx.get(f"{server.url}/api/v1/info", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json()["token_required"] is True
        assert httpx.get(f"{server.url}/login", params={"token": "nope"}).status_code == 401
        with httpx.Client(base_url=server.url, follow_redirects=True) as browser:
            login = browser.get("/login", params={"token": "s3cret"})
            assert login.status_code == 200  # redirected to the runs page, cookie kept
            assert browser.get("/api/v1/info").status_code == 200
    finally:
        server.stop()


def test_binding_off_loopback_needs_a_token_or_insecure(project: Path):
    done = subprocess.run(
        [sys.executable, "-m", "conveyor", "ui", "--host", "0.0.0.0", "--port", "0"],
        cwd=project, env=clean_env(project / ".conveyor"), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--token" in done.stderr and "--insecure" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@host:5432/db", "postgresql://u:***@host:5432/db"),
        ("postgresql://u@host/db", "postgresql://u@host/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
        ("s3://bucket/prefix", "s3://bucket/prefix"),
    ],
)
def test_store_urls_are_shown_without_passwords(url: str, shown: str):
    assert redact_url(url) == shown


def test_errors_say_what_and_how_to_fix(ui_server: UIServer):
    missing = ui_server.client.get("/api/v1/no-such-route")
    assert set(missing.json()) == {"error", "fix"}
    unknown = ui_server.client.get("/api/v1/artifacts/987654")
    assert unknown.status_code == 404 and set(unknown.json()) == {"error", "fix"}
    invalid = ui_server.client.get("/api/v1/artifacts/not-a-number")
    assert invalid.status_code == 422
    body = invalid.json()
    assert set(body) == {"error", "fix"} and "artifact_id" in body["error"]
