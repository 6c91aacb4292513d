"""The smoke test finds what is wrong with a server's answers (a real HTTP server that answers
wrongly on purpose, on a loopback port)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from conveyor.deploy import smoke_test
from conveyor.deploy.smoke import NoExampleRows

EXAMPLES = [{"x": 1.0}, {"x": 2.0}]
INFO = {
    "name": "toy",
    "version": "7",
    "task": "classification",
    "classes": ["no", "yes"],
    "signature": {"inputs": [{"name": "x", "type": "FLOAT"}],
                  "outputs": [{"name": "prediction", "type": "STRING"}]},
    "examples": EXAMPLES,
}  # fmt: skip
GOOD = {
    "predictions": ["no", "yes"],
    "probabilities": [{"no": 0.75, "yes": 0.25}, {"no": 0.1, "yes": 0.9}],
    "model": "toy",
    "version": "7",
}

Answer = Callable[[dict[str, Any]], tuple[int, Any]]


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(predict: Answer, info: dict[str, Any] | None = INFO, token: str | None = None) -> str:
        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                return token is None or self.headers.get("Authorization") == f"Bearer {token}"

            def do_GET(self) -> None:
                if self.path == "/readyz":
                    self._send(200, {"status": "ready", "model": "toy"})
                elif not self._authorised():
                    self._send(401, {"error": "Missing or wrong bearer token"})
                elif self.path == "/v1/models/toy" and info is not None:
                    self._send(200, info)
                else:
                    self._send(404, {"error": "no such route"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not self._authorised():
                    self._send(401, {"error": "Missing or wrong bearer token"})
                    return
                self._send(*predict(body))

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _failed(report: Any) -> dict[str, str]:
    return {c.name: c.detail for c in report.checks if not c.ok}


def test_a_correct_server_passes_every_check(serve):
    sent: list[Any] = []

    def answer(body: dict[str, Any]) -> tuple[int, Any]:
        sent.append(body)
        return 200, GOOD

    report = smoke_test(serve(answer), requests=3, max_latency_ms=60_000)
    assert report.ok, _failed(report)
    assert sent == [{"rows": EXAMPLES}] * 4  # the model's own example rows, 1 + 3 times
    assert (report.model, report.version, report.rows) == ("toy", "7", 2)
    assert len(report.latencies_ms) == 3
    assert [c.name for c in report.checks] == [
        "ready", "model name", "model info", "status", "model", "one prediction per row",
        "prediction types", "probabilities", "repeated requests", "latency",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "check", "says"),
    [
        ({**GOOD, "predictions": ["no"]}, "one prediction per row", "1 predictions for 2 rows"),
        ({**GOOD, "predictions": ["no", "maybe"]}, "prediction types", "'maybe' is not one"),
        ({**GOOD, "predictions": ["no", 1]}, "prediction types", "expected STRING"),
        ({**GOOD, "probabilities": [{"no": 0.5, "yes": 0.6}] * 2}, "probabilities", "sum to"),
        ({**GOOD, "probabilities": [{"no": 1.0}] * 2}, "probabilities", "the model has"),
        ({**GOOD, "probabilities": None}, "probabilities", "one set of class probabilities"),
        ({**GOOD, "model": "other"}, "model", "answered by 'other'"),
    ],
)
def test_a_wrong_answer_fails_the_check_that_sees_it(serve, answer, check, says):
    report = smoke_test(serve(lambda body: (200, answer)), requests=1)
    failed = _failed(report)
    assert not report.ok and list(failed) == [check]
    assert says in failed[check]


def test_a_refused_request_shows_the_servers_problems(serve):
    problems = {"error": "The request does not match", "problems": [
        {"row": 0, "field": "x", "message": "missing field"}]}  # fmt: skip
    report = smoke_test(serve(lambda body: (422, problems)))
    failed = _failed(report)
    assert list(failed) == ["status"]
    assert "422" in failed["status"] and "row 0 field 'x': missing field" in failed["status"]


def test_a_slow_server_fails_the_latency_bound(serve):
    report = smoke_test(serve(lambda body: (200, GOOD)), requests=2, max_latency_ms=1e-6)
    assert list(_failed(report)) == ["latency"]
    assert "bound 1e-06 ms" in _failed(report)["latency"]


def test_a_token_is_sent_and_its_absence_explained(serve):
    url = serve(lambda body: (200, GOOD), token="s3cret")
    assert smoke_test(url, token="s3cret").ok
    report = smoke_test(url)
    assert "401" in _failed(report)["model info"] and "--token" in _failed(report)["model info"]


def test_rows_are_needed_when_the_model_keeps_none(serve):
    url = serve(lambda body: (200, GOOD), info={**INFO, "examples": None})
    with pytest.raises(NoExampleRows, match="--rows FILE"):
        smoke_test(url)
    assert smoke_test(url, rows=EXAMPLES).ok


def test_nothing_listening_fails_at_once_with_the_reason():
    with socket.socket() as s:  # a port bound here and never listened on: refused
        s.bind(("127.0.0.1", 0))
        report = smoke_test(f"http://127.0.0.1:{s.getsockname()[1]}")
    assert [c.name for c in report.checks] == ["ready"] and not report.ok
    assert "could not connect" in report.checks[0].detail
