"""``conveyor serve`` under traffic: hot swap when an alias moves, canary, shadow, metrics of
every worker, and restarts, with real servers, a real registry and a load client process."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from deploy_support import free_port, register, set_alias
from prometheus_client.parser import text_string_to_metric_families
from test_serving import ROWS, _cli, _push

from conveyor.serve.routing import key_share

pytestmark = pytest.mark.slow

LOAD_CLIENT = str(Path(__file__).with_name("load_client.py"))
PREDICT = "/v1/models/toy:predict"


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> str:
        """SIGTERM; the shutdown must be graceful and exit 0. Returns the output."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        assert code == 0, self.output()
        return self.output()


def _start(tmp: Path, model: str, *extra: str, env: dict[str, str] | None = None) -> Server:
    """The server, its output in a file (a busy server logs more than a pipe holds)."""
    port = free_port()
    log = tmp / f"server-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            _cli(model, "--port", str(port), *extra), stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
    srv = Server(proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {srv.output()}")
        try:
            if httpx.get(f"{srv.url}/readyz", timeout=1).status_code == 200:
                return srv
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"server not ready in 90 s: {srv.output()}")


def _wait(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


def _registry(tmp: Path, versions: int) -> tuple[dict[str, str], str]:
    """A metadata store (under its own CONVEYOR_HOME) where model ``toy`` has ``versions``
    blessed versions, each its own folder."""
    folders = [_push(tmp / f"v{i}", "toy") for i in range(1, versions + 1)]
    return {"CONVEYOR_HOME": str(tmp / "home")}, register(tmp / "home", folders)


def _metrics(url: str) -> list[tuple[str, dict[str, str], float]]:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return [
        (s.name, s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def _total(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(
        v for n, ls, v in samples if n == name and all(ls.get(k) == x for k, x in labels.items())
    )


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    text = path.read_text()
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]


@pytest.fixture
def load(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Starts the load client process; stops it at the end of the test."""
    stop = tmp_path / "stop-load"
    procs: list[subprocess.Popen[bytes]] = []

    def start(url: str, *args: str) -> Path:
        out = tmp_path / f"load-{len(procs)}.jsonl"
        procs.append(subprocess.Popen([sys.executable, LOAD_CLIENT, url + PREDICT, str(out),
                                       str(stop), *args]))  # fmt: skip
        return out

    yield start
    stop.touch()
    for proc in procs:
        assert proc.wait(timeout=120) == 0


def _stop_load(tmp_path: Path) -> None:
    (tmp_path / "stop-load").touch()
    time.sleep(0.5)


def _failures(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["status"] != 200]


def test_alias_moves_swap_the_model_under_load_without_a_failed_request(tmp_path, load):
    home, url = _registry(tmp_path, 4)
    (tmp_path / "v2" / "toy" / "1700000000" / "transform" / "transform.json").write_text("{}")
    set_alias(url, "champion", 1)
    srv = _start(tmp_path, "models:/toy@champion", "--workers", "2", "--poll-seconds", "0.2",
                 env=home)  # fmt: skip
    try:
        out = load(srv.url, "--connections", "4")

        def last_versions() -> set[str]:
            last: dict[int, str] = {}
            for line in _lines(out):
                last[line["conn"]] = line["version"]
            return set(last.values()) if len(last) == 4 else set()

        _wait(lambda: len(_lines(out)) >= 60, "the load runs")
        set_alias(url, "champion", 2)  # its files changed since registered: not swapped in
        _wait(lambda: _total(_metrics(srv.url), "conveyor_model_swap_failures_total",
                             version="2") == 2, "both workers refuse version 2")  # fmt: skip
        assert last_versions() == {"1"}
        set_alias(url, "champion", 3)
        _wait(lambda: last_versions() == {"3"}, "every connection sees version 3")
        set_alias(url, "champion", 4)
        _wait(lambda: last_versions() == {"4"}, "every connection sees version 4")
        seen = len(_lines(out))
        _wait(lambda: len(_lines(out)) >= seen + 40, "more requests after the swap")
        _stop_load(tmp_path)
        samples = _metrics(srv.url)
    finally:
        output = srv.stop()
    lines = _lines(out)
    assert not _failures(lines), _failures(lines)[:5]
    for conn in range(4):
        versions = [line["version"] for line in lines if line["conn"] == conn]
        runs = [v for i, v in enumerate(versions) if i == 0 or v != versions[i - 1]]
        assert runs == ["1", "3", "4"], f"connection {conn} saw versions {runs}"
    for version in ("3", "4"):  # each worker swapped once
        assert _total(samples, "conveyor_model_swaps_total", role="primary", version=version) == 2
    assert _total(samples, "conveyor_requests_total", code="200", version="4") > 0
    assert "Not swapping the primary model to version 2" in output
    assert "Refusing to serve" in output  # the reason: the digest check


def test_bad_traffic_options_are_refused_before_serving(tmp_path):
    pushed = _push(tmp_path, "toy")
    for extra, says in [
        (["--poll-seconds", "1"], "nothing to poll"),
        (["--canary", "models:/toy@challenger"], "MODEL=PERCENT%"),
        (["--canary", f"{pushed}=150%"], "at most 100%"),
    ]:
        refused = subprocess.run(_cli(str(pushed), "--port", str(free_port()), *extra),
                                 capture_output=True, text=True, timeout=60)  # fmt: skip
        assert refused.returncode == 2, refused.stderr
        assert says in refused.stderr and "Traceback" not in refused.stderr
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(not_a_dir)}
    refused = subprocess.run(_cli(str(pushed), "--port", str(free_port())), capture_output=True,
                             text=True, timeout=60, env=env)  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert "PROMETHEUS_MULTIPROC_DIR" in refused.stderr and "Traceback" not in refused.stderr


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("traffic")
    home, url = _registry(tmp, 3)
    set_alias(url, "champion", 1)
    set_alias(url, "challenger", 2)
    set_alias(url, "candidate", 3)
    return tmp, home


def _binomial_ok(hits: int, n: int, p: float) -> bool:
    return abs(hits - n * p) <= 4.5 * math.sqrt(n * p * (1 - p))  # ~1e-5 false alarm


def test_canary_takes_its_share_by_key_hash_or_at_random(registry):
    tmp, home = registry
    srv = _start(tmp, "models:/toy@champion", "--canary", "models:/toy@challenger=30%", env=home)
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as client:

            def ask(key: str | None) -> dict[str, Any]:
                headers = {} if key is None else {"X-Request-Key": key}
                response = client.post(PREDICT, json={"rows": ROWS}, headers=headers)
                assert response.status_code == 200, response.text
                return dict(response.json())

            keys = [uuid.uuid4().hex for _ in range(300)]
            answers = {key: ask(key) for key in keys}
            for key, answer in answers.items():  # the documented hash decides
                role = "canary" if key_share(key) < 0.3 else "primary"
                assert (answer["role"], answer["version"]) == (
                    role, "2" if role == "canary" else "1"
                )  # fmt: skip
            canaries = sum(a["role"] == "canary" for a in answers.values())
            assert _binomial_ok(canaries, len(keys), 0.3), canaries
            for key in keys[:40]:  # the same key, the same model
                assert ask(key)["role"] == answers[key]["role"]
            random_roles = [ask(None)["role"] for _ in range(300)]
            assert _binomial_ok(random_roles.count("canary"), 300, 0.3), random_roles
            samples = _metrics(srv.url)
    finally:
        srv.stop()
    route = "/v1/models/{name}:predict"
    served = _total(samples, "conveyor_requests_total", route=route, code="200")
    assert served == 640
    assert _total(samples, "conveyor_requests_total", role="canary", version="2") == canaries + (
        sum(answers[k]["role"] == "canary" for k in keys[:40]) + random_roles.count("canary")
    )


def test_shadow_scores_every_request_and_never_answers(registry):
    tmp, home = registry
    srv = _start(tmp, "models:/toy@champion", "--shadow", "models:/toy@candidate", env=home)
    try:
        for _ in range(30):
            response = httpx.post(srv.url + PREDICT, json={"rows": ROWS}, timeout=30)
            assert response.status_code == 200
            assert (response.json()["version"], response.json()["role"]) == ("1", "primary")
        _wait(lambda: _total(_metrics(srv.url), "conveyor_shadow_requests_total") == 30,
              "the shadow has seen every request")  # fmt: skip
        samples = _metrics(srv.url)
    finally:
        output = srv.stop()
    assert _total(samples, "conveyor_shadow_requests_total", outcome="scored") == 30
    logged = [json.loads(line.partition(":")[2]) for line in output.splitlines()
              if '"role": "shadow"' in line]  # fmt: skip
    assert len(logged) == 30
    assert {(e["model"], e["version"], e["rows"]) for e in logged} == {("toy", "3", len(ROWS))}
    assert all(len(e["predictions"]) == len(ROWS) for e in logged)


def test_shadow_answers_go_to_the_prediction_log_under_its_own_version(registry, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp, home = registry
    logs = tmp_path / "logs"
    srv = _start(tmp, "models:/toy@champion", "--shadow", "models:/toy@candidate",
                 "--log-predictions", "--log-dir", str(logs), env=home)  # fmt: skip
    try:
        for i in range(10):  # half with the client's own request id, half without
            headers = {"X-Request-ID": f"client-{i}"} if i % 2 else {}
            response = httpx.post(srv.url + PREDICT, json={"rows": ROWS}, headers=headers,
                                  timeout=30)  # fmt: skip
            assert response.status_code == 200 and response.json()["role"] == "primary"
        _wait(lambda: _total(_metrics(srv.url), "conveyor_shadow_requests_total") == 10,
              "the shadow has seen every request")  # fmt: skip
    finally:
        srv.stop()  # publishes the log files
    ids = {}
    for version, role in (("1", "primary"), ("3", "shadow")):
        table = pa.concat_tables([pq.read_table(f) for f in (logs / "toy" / version).iterdir()])
        assert table.num_rows == 10 * len(ROWS)
        assert set(table.column("role").to_pylist()) == {role}
        assert set(table.column("version").to_pylist()) == {version}
        ids[role] = set(table.column("request_id").to_pylist())
    # the primary's and the shadow's rows of a request join on its id
    assert ids["primary"] == ids["shadow"] and len(ids["primary"]) == 10
    assert {f"client-{i}" for i in range(1, 10, 2)} <= ids["primary"]


def test_metrics_count_the_requests_of_every_worker(tmp_path):
    pushed = _push(tmp_path, "toy")
    counts = tmp_path / "metrics"
    counts.mkdir()
    srv = _start(tmp_path, str(pushed), "--workers", "2",
                 env={"PROMETHEUS_MULTIPROC_DIR": str(counts)})  # fmt: skip
    sent = 0

    def one(_: int) -> int:
        with httpx.Client(timeout=30) as client:  # a connection of its own: either worker
            return client.post(srv.url + PREDICT, json={"rows": ROWS}).status_code

    try:
        with ThreadPoolExecutor(8) as pool:
            while len(list(counts.glob("counter_*.db"))) < 2 and sent < 2000:
                assert set(pool.map(one, range(16))) == {200}
                sent += 16
        assert len(list(counts.glob("counter_*.db"))) == 2, "one worker answered everything"
        route = "/v1/models/{name}:predict"
        for _ in range(6):  # whichever worker answers the scrape reports both
            samples = _metrics(srv.url)
            assert _total(samples, "conveyor_requests_total", route=route, code="200",
                          model="toy", version="1700000000", role="primary") == sent  # fmt: skip
            assert _total(samples, "conveyor_request_duration_seconds_count", route=route) == sent
    finally:
        srv.stop()


def test_sighup_restarts_the_workers_under_load_without_a_failed_request(tmp_path, load):
    pushed = _push(tmp_path, "toy")
    srv = _start(tmp_path, str(pushed), "--workers", "2")
    try:
        out = load(srv.url, "--connections", "4", "--fresh")
        _wait(lambda: len(_lines(out)) >= 40, "the load runs")
        srv.proc.send_signal(signal.SIGHUP)
        _wait(lambda: srv.output().count("Finished server process") >= 2, "two workers replaced")
        seen = len(_lines(out))
        _wait(lambda: len(_lines(out)) >= seen + 40, "more requests after the restart")
        _stop_load(tmp_path)
    finally:
        output = srv.stop()
    assert output.count("Started server process") >= 4
    lines = _lines(out)
    assert not _failures(lines), _failures(lines)[:5]


def test_sigterm_finishes_every_accepted_request(tmp_path):
    pushed = _push(tmp_path, "toy")
    srv = _start(tmp_path, str(pushed), "--workers", "2")
    # 100,000 rows (5 MB): long enough to be in flight at SIGTERM (the server answers
    # 10,000 rows in about 0.15 s, before the requests below could be signalled)
    body = {"rows": ROWS * 25000}
    started = time.monotonic()
    assert len(httpx.post(srv.url + PREDICT, json=body, timeout=60).json()["predictions"]) == 100000
    alone = time.monotonic() - started
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(httpx.post, srv.url + PREDICT, json=body, timeout=60)
                   for _ in range(4)]  # fmt: skip
        time.sleep(max(0.3, min(alone, 1.0)))  # sent and accepted (2 idle workers accept at once)
        in_flight = sum(not f.done() for f in futures)
        output = srv.stop()
        outcomes = [f.exception() or f.result() for f in futures]
    assert in_flight >= 2, f"only {in_flight} requests were in flight at SIGTERM (alone: {alone})"
    assert [getattr(r, "status_code", r) for r in outcomes] == [200] * 4, output
    assert all(len(r.json()["predictions"]) == 100000 for r in outcomes)
    with pytest.raises(httpx.ConnectError):
        httpx.post(srv.url + PREDICT, json={"rows": ROWS}, timeout=5)
