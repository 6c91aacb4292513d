"""``conveyor deploy --target local`` and ``conveyor smoke-test``: real background servers,
real HTTP, PID files checked against real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from deploy_support import push_model, register, set_alias

from conveyor.model.examples import read_examples
from conveyor.model.saved import manifest_json
from conveyor.storage import content_digest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return push_model(tmp_path_factory.mktemp("deploy"))


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_deploy_status_smoke_test_logs_and_stop(cli, project, model):
    token = {"CONVEYOR_SERVE_TOKEN": "s3cret"}
    started = cli("deploy", str(model), "--port", "0", "--name", "toy-local", "--json", env=token)
    assert started.returncode == 0, started.stderr
    state = json.loads(started.stdout)
    assert (state["state"], state["ready"], state["name"]) == ("running", True, "toy-local")
    url, pid = state["url"], state["pid"]
    assert "s3cret" not in " ".join(psutil.Process(pid).cmdline())  # the token is not on argv
    folder = project / ".conveyor" / "deployments" / "toy-local"
    assert (folder / "server.pid").read_text().strip() == str(pid)
    try:
        again = cli("deploy", str(model), "--port", "0", "--name", "toy-local", env=token)
        assert again.returncode == 1 and "running already" in again.stderr

        auth = {"Authorization": "Bearer s3cret"}
        info = httpx.get(f"{url}/v1/models/toy", headers=auth).json()
        assert info["examples"] == read_examples(str(model)) and len(info["examples"]) == 5
        assert info["signature"] == manifest_json(str(model))["signature"]
        assert (info["name"], info["version"], info["classes"]) == ("toy", "1700000000",
                                                                    ["no", "yes"])  # fmt: skip
        assert httpx.get(f"{url}/v1/models/toy").status_code == 401  # the rows need the token
        assert httpx.get(f"{url}/v1/models/other", headers=auth).status_code == 404

        smoke = cli("smoke-test", url, "--json", "--max-latency-ms", "60000", env=token)
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr
        report = json.loads(smoke.stdout)
        assert report["ok"] and report["rows"] == 5 and report["version"] == "1700000000"
        assert {c["name"] for c in report["checks"]} >= {"probabilities", "latency"}

        no_token = cli("smoke-test", url)
        assert no_token.returncode == 1 and "401" in no_token.stdout, no_token.stdout
        slow = cli("smoke-test", url, "--max-latency-ms", "0.001", env=token)
        assert slow.returncode == 1 and "FAIL latency" in slow.stdout, slow.stdout
        local = cli("smoke-test", url, "--model-path", str(model), "--requests", "1", env=token)
        assert local.returncode == 0, local.stdout

        logs = cli("deploy", "logs", "toy-local", "-n", "500")
        assert "Uvicorn running" in logs.stdout
        assert "POST /v1/models/toy:predict" in logs.stdout

        listed = json.loads(cli("deploy", "status", "--json").stdout)
        assert [(s["name"], s["state"], s["ready"]) for s in listed] == [
            ("toy-local", "running", True)
        ]
    finally:
        stopped = cli("deploy", "stop", "toy-local", "--json")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout)["outcome"] == "stopped"
    assert _gone(pid) and not (folder / "server.pid").exists()
    assert "Application shutdown complete" in (folder / "server.log").read_text()
    after = json.loads(cli("deploy", "status", "toy-local", "--json").stdout)
    assert after["state"] == "stopped"
    assert json.loads(cli("deploy", "stop", "toy-local", "--json").stdout)["outcome"] == (
        "not-running"
    )


def _record(project: Path, name: str, pid: int, started: float) -> Path:
    folder = project / ".conveyor" / "deployments" / name
    folder.mkdir(parents=True)
    record = {"name": name, "url": "http://127.0.0.1:1", "model": "m", "pid": pid,
              "process_started": started, "started_at": time.time()}  # fmt: skip
    (folder / "deployment.json").write_text(json.dumps(record))
    (folder / "server.pid").write_text(f"{pid}\n")
    return folder


def test_stale_pid_files_are_told_apart_from_live_servers_and_nothing_else_is_stopped(cli, project):
    gone = subprocess.Popen(["sleep", "0"])
    gone.wait()
    other = subprocess.Popen(["sleep", "60"])
    try:
        started = psutil.Process(other.pid).create_time()
        _record(project, "crashed", gone.pid, time.time())
        _record(project, "reused", other.pid, started - 3600)  # the PID now names another start
        _record(project, "stranger", other.pid, started)  # same start, but not conveyor serve
        states = {s["name"]: s for s in json.loads(cli("deploy", "status", "--json").stdout)}
        assert {n: s["state"] for n, s in states.items()} == dict.fromkeys(
            ["crashed", "reused", "stranger"], "stale"
        )
        assert "is gone" in states["crashed"]["reason"]
        assert "PID was reused" in states["reused"]["reason"]
        assert "another program" in states["stranger"]["reason"]
        for name in ("crashed", "reused", "stranger"):
            result = json.loads(cli("deploy", "stop", name, "--json").stdout)
            assert result["outcome"] == "stale", result
            assert not (project / ".conveyor" / "deployments" / name / "server.pid").exists()
        assert other.poll() is None  # the other program was not signalled
    finally:
        other.kill()
        other.wait()


def test_a_server_that_exits_is_reported_with_its_log_tail(cli, project, tmp_path):
    version = push_model(tmp_path)
    manifest = version / "conveyor_model.json"
    manifest.write_text(manifest.read_text().replace('"label": "y"', '"label": "z"'))
    failed = cli("deploy", str(version), "--port", "0")
    assert failed.returncode == 1
    assert "exited with code 1" in failed.stderr and "Refusing to serve" in failed.stderr
    state = json.loads(cli("deploy", "status", "toy", "--json").stdout)
    assert state["state"] == "stopped" and state["pid"] is None


def test_a_server_not_ready_in_time_is_stopped(cli, project, model):
    failed = cli("deploy", str(model), "--port", "0", "--wait", "0", "--name", "hasty")
    assert failed.returncode == 1 and "did not answer 200 within 0 s" in failed.stderr
    record = json.loads((project / ".conveyor/deployments/hasty/deployment.json").read_text())
    assert _gone(record["pid"])


def test_bad_names_and_options_are_refused_before_anything_runs(cli, project, model):
    escape = cli("deploy", str(model), "--name", "../outside")
    assert escape.returncode == 2 and "not a valid name" in escape.stderr
    assert not (project / ".conveyor" / "outside").exists()
    image = cli("deploy", str(model), "--image", "x:1")
    assert image.returncode == 2 and "only for --target docker or kubernetes" in image.stderr
    with socket.socket() as taken:  # a port another program listens on
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = cli("deploy", str(model), "--port", port)
    assert busy.returncode == 1 and f"Port {port} on 127.0.0.1 is in use" in busy.stderr
    missing = cli("deploy", "stop", "nothing")
    assert missing.returncode == 2 and "No local deployment 'nothing'" in missing.stderr
    assert not (project / ".conveyor" / "deployments").exists()


def test_smoke_test_of_a_model_without_example_rows_asks_for_rows(cli, project, tmp_path):
    old = push_model(tmp_path, examples=False)
    started = cli("deploy", str(old), "--port", "0", "--name", "old", "--json")
    assert started.returncode == 0, started.stderr
    url = json.loads(started.stdout)["url"]
    try:
        needs = cli("smoke-test", url)
        assert needs.returncode == 2 and "--rows FILE" in needs.stderr
        rows = tmp_path / "rows.json"
        rows.write_text(json.dumps([{"x": 0.5, "n": 3, "c": "b"}]))
        given = cli("smoke-test", url, "--rows", str(rows), "--json")
        assert given.returncode == 0, given.stdout
        assert json.loads(given.stdout)["rows"] == 1
        rows.write_text(json.dumps({"rows": [{"x": "text", "n": 3, "c": "b"}]}))
        refused = cli("smoke-test", url, "--rows", str(rows))
        assert refused.returncode == 1 and "expected a number" in refused.stdout
    finally:
        assert cli("deploy", "stop", "old").returncode == 0


def test_logs_follow_prints_until_the_server_exits(cli, project, model):
    started = cli("deploy", str(model), "--port", "0", "--name", "followed", "--json")
    assert started.returncode == 0, started.stderr
    state = json.loads(started.stdout)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env["CONVEYOR_HOME"] = str(project / ".conveyor")
    follower = subprocess.Popen(
        [sys.executable, "-m", "conveyor", "deploy", "logs", "followed", "-n", "0", "--follow"],
        cwd=project, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.0)  # the follower is reading the end of the log
        httpx.post(f"{state['url']}/v1/models/toy:predict", json={"rows": [{"x": 1.0, "n": 1,
                   "c": "a"}]})  # fmt: skip
        os.kill(state["pid"], signal.SIGTERM)  # the server exits: --follow ends by itself
        out, _ = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
        cli("deploy", "stop", "followed")
    assert follower.returncode == 0
    assert "POST /v1/models/toy:predict" in out and "Application shutdown complete" in out


def test_a_registered_alias_is_deployed_and_its_info_follows_a_hot_swap(cli, project, tmp_path):
    home = project / ".conveyor"
    first = push_model(tmp_path / "v1")
    second = push_model(tmp_path / "v2", examples=False)  # saved before examples were kept
    url = register(home, [first, second])
    set_alias(url, "champion", 1)
    refused = cli("deploy", "models:/toy@champion", "--target", "docker", "--poll-seconds", "1")
    assert refused.returncode == 2 and "for --target local" in refused.stderr
    started = cli("deploy", "models:/toy@champion", "--port", "0", "--name", "champ",
                  "--poll-seconds", "0.2", "--json")  # fmt: skip
    assert started.returncode == 0, started.stderr
    base = json.loads(started.stdout)["url"]
    try:
        info = httpx.get(f"{base}/v1/models/toy").json()
        assert info["version"] == "1" and info["examples"] == read_examples(str(first))
        set_alias(url, "champion", 2)
        deadline = time.monotonic() + 60
        while httpx.get(f"{base}/v1/models/toy").json()["version"] != "2":
            assert time.monotonic() < deadline, "the info route never showed version 2"
            time.sleep(0.2)
        assert httpx.get(f"{base}/v1/models/toy").json()["examples"] is None
        needs_rows = cli("smoke-test", base)
        assert needs_rows.returncode == 2 and "--rows FILE" in needs_rows.stderr
    finally:
        assert cli("deploy", "stop", "champ").returncode == 0
    # a registered version's build context carries the digest the store recorded
    built = cli("deploy", "models:/toy/1", "--target", "docker", "-o", str(tmp_path / "ctx"),
                "--json")  # fmt: skip
    assert built.returncode == 0, built.stderr
    marker = tmp_path / "ctx" / "models" / "toy" / "1" / "conveyor_push.json"
    assert json.loads(marker.read_text())["model_fingerprint"] == content_digest(str(first))
