"""The ``local`` target: ``conveyor serve`` in the background, with a PID file and a log.

Each deployment lives in ``<home>/deployments/<name>/``: ``deployment.json`` (what was
started: the model, address, command and the server process's start time), ``server.pid``
while it runs and ``server.log`` (the server's output). The server runs in its own session,
so it outlives the command that started it and a terminal's Ctrl-C does not reach it.
``start`` returns once ``/readyz`` answers 200; a server that exits or is not ready in time is
stopped and reported with the tail of its log.

A PID file can outlive its process (a crash, a reboot) and the PID can be reused by another
program: a process counts as the deployment's only when its start time is the one recorded
and its command line is ``conveyor serve``. Anything else is *stale*; ``status`` says so,
``stop`` removes the PID file, ``start`` starts anew.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import psutil  # type: ignore[import-untyped]

from conveyor.deploy.folders import deployment_dir, deployments_root
from conveyor.errors import DeploymentError, NotFoundError

__all__ = [
    "TOKEN_ENV",
    "LocalStatus",
    "StopResult",
    "follow_log",
    "free_port",
    "local_deployments",
    "local_status",
    "log_file",
    "start_local",
    "stop_local",
    "tail",
]

TOKEN_ENV = "CONVEYOR_SERVE_TOKEN"
"""The environment variable ``conveyor serve`` reads its token from (kept off command lines)."""
RECORD_FILE = "deployment.json"
PID_FILE = "server.pid"
LOG_FILE = "server.log"
_START_TOLERANCE = 1.0  # seconds: process start times are read to the clock tick


@dataclass(frozen=True)
class LocalStatus:
    """A local deployment's state: ``running`` (``ready`` says whether ``/readyz`` answered
    200), ``stopped`` (by ``stop``) or ``stale`` (its PID file names a process that is gone or
    is another program; ``reason`` says which)."""

    name: str
    state: str
    pid: int | None
    url: str | None
    model: str | None
    log: str
    started_at: float | None
    ready: bool | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class StopResult:
    """How ``stop`` went: ``stopped`` (SIGTERM sufficed), ``killed`` (SIGKILL after the
    timeout), ``stale`` (nothing ran: the PID file was removed) or ``not-running``."""

    name: str
    outcome: str
    pid: int | None
    seconds: float
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def free_port(host: str) -> int:
    """A port free on ``host`` now (the kernel's pick)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` (or one of its children: uvicorn's workers) listens on
    ``port``."""
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                    return True
    except psutil.Error:
        return False
    return False


def _probe_url(host: str, port: int) -> str:
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def start_local(
    home: str,
    model: str,
    *,
    name: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    serve_options: tuple[str, ...] = (),
    token: str | None = None,
    wait_seconds: float = 60.0,
    env: Mapping[str, str] | None = None,
) -> LocalStatus:
    """Start ``conveyor serve MODEL`` in the background as deployment ``name`` and wait for
    it to be ready.

    Args:
        home: the project's state folder (``Settings.home``).
        model: what ``conveyor serve`` takes (a folder is made absolute).
        name: the deployment's name (a folder name).
        host: the address to bind.
        port: the port (0: a free one is picked).
        serve_options: further ``conveyor serve`` options (``--workers``, ``--insecure``...).
        token: the bearer token, handed over in :data:`TOKEN_ENV`, never on the command line.
        wait_seconds: how long ``/readyz`` has to answer 200.
        env: the server's environment (default: this process's).

    Raises:
        DeploymentError: ``name`` is running already, or the server exited or was not ready
            in time (it is stopped; the message has the tail of its log).
    """
    folder = deployment_dir(home, name)
    recorded = os.path.isfile(os.path.join(folder, RECORD_FILE))
    current = local_status(home, name) if recorded else None
    if current is not None and current.state == "running":
        raise DeploymentError(
            f"Deployment {name!r} is running already (pid {current.pid}, {current.url}): "
            f"stop it first (conveyor deploy stop {name}) or give another --name"
        )
    if port == 0:
        port = free_port(host)
    elif not _port_free(host, port):
        raise DeploymentError(
            f"Port {port} on {host} is in use (another deployment? conveyor deploy status "
            "lists them): give another --port, or --port 0 for a free one"
        )
    os.makedirs(folder, exist_ok=True)
    _remove(os.path.join(folder, PID_FILE))
    if "://" not in model and not model.startswith("models:/"):
        model = os.path.abspath(model)
    command = [sys.executable, "-m", "conveyor", "serve", model, "--host", host,
               "--port", str(port), *serve_options]  # fmt: skip
    child_env = dict(os.environ if env is None else env)
    if token is not None:
        child_env[TOKEN_ENV] = token
    log = os.path.join(folder, LOG_FILE)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=child_env, start_new_session=True, close_fds=True,
        )  # fmt: skip
    url = _probe_url(host, port)
    record = {
        "name": name,
        "target": "local",
        "model": model,
        "host": host,
        "port": port,
        "url": url,
        "pid": proc.pid,
        "process_started": _started(proc.pid),
        "started_at": time.time(),
        "command": command,
        "token": TOKEN_ENV in child_env,
    }
    _write_json(os.path.join(folder, RECORD_FILE), record)
    with open(os.path.join(folder, PID_FILE), "w", encoding="utf-8") as fh:
        fh.write(f"{proc.pid}\n")
    _wait_ready(proc, name, (url, port), log, wait_seconds, folder)
    return local_status(home, name)


def _wait_ready(
    proc: subprocess.Popen[bytes],
    name: str,
    address: tuple[str, int],
    log: str,
    seconds: float,
    folder: str,
) -> None:
    from conveyor.deploy.smoke import http_json

    url, port = address
    deadline = time.monotonic() + seconds
    while True:
        code = proc.poll()
        if code is not None:
            _remove(os.path.join(folder, PID_FILE))
            raise DeploymentError(
                f"Deployment {name!r}: the server exited with code {code} before it was "
                f"ready. The end of its log ({log}):\n{tail(log, 20).rstrip()}"
            )
        if http_json(f"{url}/readyz", timeout=2).status == 200 and _listens(proc.pid, port):
            return  # ready, and the answer came from this server, not another on the port
        if time.monotonic() >= deadline:
            _terminate(proc.pid, 10.0)
            proc.wait()
            _remove(os.path.join(folder, PID_FILE))
            raise DeploymentError(
                f"Deployment {name!r}: {url}/readyz did not answer 200 within {seconds:g} s, "
                f"so the server was stopped; give more time with --wait. The end of its log "
                f"({log}):\n{tail(log, 20).rstrip()}"
            )
        time.sleep(0.1)


def local_status(home: str, name: str) -> LocalStatus:
    """The state of deployment ``name``.

    Raises:
        NotFoundError: there is no deployment ``name``.
    """
    return _status(home, name)


def local_deployments(home: str) -> list[LocalStatus]:
    """The state of every local deployment, by name."""
    root = deployments_root(home)
    names = sorted(os.listdir(root)) if os.path.isdir(root) else []
    return [_status(home, n) for n in names if os.path.isfile(os.path.join(root, n, RECORD_FILE))]


def _status(home: str, name: str) -> LocalStatus:
    folder = deployment_dir(home, name)
    record = _record(folder, name)
    log = os.path.join(folder, LOG_FILE)
    pid = _pid(folder)
    url, model = record.get("url"), record.get("model")
    started = record.get("started_at")

    def status(state: str, ready: bool | None = None, reason: str | None = None) -> LocalStatus:
        return LocalStatus(name, state, pid, None if url is None else str(url),
                           None if model is None else str(model), log,
                           float(started) if isinstance(started, int | float) else None,
                           ready, reason)  # fmt: skip

    if pid is None:
        return status("stopped")
    reason = _not_ours(pid, record)
    if reason is not None:
        return status("stale", reason=reason)
    from conveyor.deploy.smoke import http_json

    return status("running", ready=http_json(f"{url}/readyz", timeout=2).status == 200)


def _record(folder: str, name: str) -> dict[str, Any]:
    file = os.path.join(folder, RECORD_FILE)
    try:
        with open(file, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise NotFoundError(
            f"No local deployment {name!r} (no {file}); list them with conveyor deploy status"
        ) from None
    except (OSError, ValueError) as exc:
        raise DeploymentError(f"Cannot read the deployment record {file!r}: {exc}") from exc
    if not isinstance(data, dict):
        raise DeploymentError(f"The deployment record {file!r} is not a JSON object")
    return data


def _pid(folder: str) -> int | None:
    try:
        with open(os.path.join(folder, PID_FILE), encoding="utf-8") as fh:
            text = fh.read().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else -1


def _started(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def _not_ours(pid: int, record: Mapping[str, Any]) -> str | None:
    """None when ``pid`` is the deployment's live server; else why the PID file is stale."""
    if pid <= 0:
        return "the PID file does not hold a process id"
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return f"process {pid} has exited"
        started = proc.create_time()
        cmdline = proc.cmdline()
    except psutil.NoSuchProcess:
        return f"process {pid} is gone (the server stopped without conveyor deploy stop)"
    except psutil.Error as exc:
        return f"process {pid} cannot be inspected ({type(exc).__name__}): not ours"
    recorded = record.get("process_started")
    if not isinstance(recorded, int | float) or abs(started - recorded) > _START_TOLERANCE:
        return f"process {pid} is another program (the PID was reused)"
    if "serve" not in cmdline or not any("conveyor" in part for part in cmdline):
        return f"process {pid} is another program: {' '.join(cmdline)[:80]!r}"
    return None


def stop_local(home: str, name: str, *, timeout: float = 30.0) -> StopResult:
    """Stop deployment ``name``: SIGTERM (the server finishes the requests in flight), wait
    up to ``timeout`` seconds, then SIGKILL its whole process group.

    Raises:
        NotFoundError: there is no deployment ``name``.
    """
    folder = deployment_dir(home, name)
    record = _record(folder, name)
    pid = _pid(folder)
    if pid is None:
        return StopResult(name, "not-running", None, 0.0, f"deployment {name!r} is not running")
    reason = _not_ours(pid, record)
    if reason is not None:
        _remove(os.path.join(folder, PID_FILE))
        return StopResult(name, "stale", pid, 0.0, f"not running: {reason}; removed its PID file")
    start = time.monotonic()
    killed = _terminate(pid, timeout)
    seconds = time.monotonic() - start
    _remove(os.path.join(folder, PID_FILE))
    record["stopped_at"] = time.time()
    _write_json(os.path.join(folder, RECORD_FILE), record)
    if killed:
        return StopResult(name, "killed", pid, seconds,
                          f"process {pid} ignored SIGTERM for {timeout:g} s: killed")  # fmt: skip
    return StopResult(name, "stopped", pid, seconds, f"process {pid} exited after SIGTERM")


def _terminate(pid: int, timeout: float) -> bool:
    """SIGTERM ``pid``, wait, then SIGKILL its process group; whether it had to be killed."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    if _gone_within(pid, timeout):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # the server leads its own session and group
    _gone_within(pid, 5.0)
    return True


def _gone_within(pid: int, seconds: float) -> bool:
    """Whether ``pid`` exits (or is left a zombie for its parent to reap) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def log_file(home: str, name: str) -> str:
    """The log of deployment ``name``.

    Raises:
        NotFoundError: there is no deployment ``name``.
    """
    folder = deployment_dir(home, name)
    _record(folder, name)
    return os.path.join(folder, LOG_FILE)


def tail(path: str, lines: int, *, end: int | None = None) -> str:
    """The last ``lines`` lines of the file at ``path`` (of its first ``end`` bytes), with
    their line ends; '' when it is missing."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END) if end is None else end
            start = max(0, size - 64 * 1024 * max(1, lines // 100 + 1))
            fh.seek(start)
            data = fh.read(size - start)
    except FileNotFoundError:
        return ""
    kept = data.decode("utf-8", "replace").splitlines(keepends=True)
    return "".join(kept[-lines:]) if lines else ""


def follow_log(
    home: str, name: str, *, start: int | None = None, poll: float = 0.2
) -> Iterator[str]:
    """The text of deployment ``name``'s log from byte ``start`` (default: its end), as it
    comes, until its server exits."""
    folder = deployment_dir(home, name)
    record = _record(folder, name)
    with open(os.path.join(folder, LOG_FILE), "rb") as fh:
        fh.seek(0, os.SEEK_END) if start is None else fh.seek(start)
        while True:
            chunk = fh.read()
            if chunk:
                yield chunk.decode("utf-8", "replace")
                continue
            pid = _pid(folder)
            if pid is None or _not_ours(pid, record) is not None:
                rest = fh.read()
                if rest:
                    yield rest.decode("utf-8", "replace")
                return
            time.sleep(poll)


def _write_json(path: str, data: Mapping[str, Any]) -> None:
    temporary = f"{path}.partial-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    os.replace(temporary, path)


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
