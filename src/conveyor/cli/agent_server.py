"""The warm agent's server half: preload Conveyor, then fork a child per command that takes
on the caller's terminal, folder, environment and process state (see :mod:`conveyor.cli.agent`)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
from typing import Any

from conveyor.cli import agent_parity
from conveyor.cli.agent import DEFAULT_IDLE_SECONDS, _Address, _digest, _recv, _send

__all__ = ["main", "serve"]


def _preload() -> None:
    """Import Conveyor's stack (never user code) so forked children start warm."""
    import importlib

    for name in (
        "conveyor.cli.main",
        "conveyor.cli.render",
        "conveyor.cli.loading",
        "conveyor.cli.inspect",
        "conveyor.cli.compare",
        "conveyor.orchestrator",
        "conveyor.orchestrator.plan",
        "conveyor.metadata.sql.store",
        "conveyor.execution",
        "conveyor.storage",
        "conveyor.components",
        "conveyor.components.data",
        "conveyor.components.model",
        "conveyor.model.card_html",
        "conveyor.cli.data",
        "conveyor.cli.data_validate",
        "conveyor.cli.show",
        "conveyor.data.stats",
        "conveyor.data.io",
        "conveyor.data.schema",
        "conveyor.data.validate",
        "conveyor.data.render",
        "numpy",
        "pyarrow",
        "pyarrow.csv",
        "pyarrow.compute",
        "pyarrow.parquet",
        "pyarrow.json",
        "pyarrow.dataset",
        "datasketches",
        "yaml",
        "rich.console",
        "rich.live",
        "rich.table",
        "rich.text",
        "rich.markup",
        "rich.tree",
        "multiprocessing.connection",
        "alembic.command",
        "alembic.config",
        "alembic.runtime.migration",
        "alembic.operations",
        "psycopg",
        "fsspec",
    ):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    try:  # warm SQLAlchemy's SQLite dialect and compiled-statement machinery too
        from conveyor.metadata import connect

        connect("sqlite://").close()
    except Exception:
        pass


_PRELOAD: dict[str, Any] = {}
"""The agent's ``sys.path`` and import signature, kept before it preloads anything."""


def _refusal(request: dict[str, Any]) -> str | None:
    """Why this child cannot run ``request`` as a direct run would, or None.

    Called in the child after it moved to the caller's working directory, before it takes the
    caller's terminal. Applies the caller's process state on the way.
    """
    if request.get("import") != _PRELOAD["import"]:
        return "the caller's import-time environment differs from the agent's"
    folders = [os.getcwd(), *request["sys_path"]]
    for arg in request["argv"][1:]:
        path = arg if os.path.exists(arg) else arg.partition(":")[0]
        if path.endswith((".py", ".json")) and os.path.isfile(path):
            folders.append(os.path.dirname(os.path.abspath(path)))
    shadowed = agent_parity.shadowed_modules(folders, sys.modules, _PRELOAD["sys_path"])
    if shadowed:
        return f"project modules shadow modules the agent preloaded: {', '.join(shadowed)}"
    return agent_parity.apply_state(request.get("state", {}))


def _child(conn: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
    """Become the orchestrator of one ``conveyor`` invocation, then exit."""
    import threading
    import time

    from conveyor._internal.streams import fd_stream

    os.chdir(request["cwd"])
    reason = _refusal(request)
    if reason is not None:
        print(f"conveyor agent: running {request['argv'][:2]} directly: {reason}", flush=True)
        _send(conn, {"direct": reason})
        os._exit(0)
    os.setpgid(0, 0)  # its own process group, which the client stops and continues
    have = iter(fds)
    for target, present in enumerate(request.get("fds", [True, True, True])):
        if present:
            fd = next(have)
            os.dup2(fd, target)
            os.close(fd)
        else:
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, target)
            os.close(null)
    sys.stdin = fd_stream(0, "r")
    sys.stdout = fd_stream(1)
    sys.stderr = fd_stream(2)
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ["CONVEYOR_AGENT_CHILD"] = str(os.getppid())
    time.tzset()  # TZ of the caller
    sys.path[:] = request["sys_path"]
    argv = list(request["argv"])
    sys.argv = ["conveyor", *argv]
    _send(conn, {"pid": os.getpid()})

    def watchdog() -> None:
        with contextlib.suppress(OSError):
            conn.recv(1)
        os.kill(os.getpid(), signal.SIGKILL)  # the client is gone: so is its run

    threading.Thread(target=watchdog, name="conveyor-agent-watchdog", daemon=True).start()
    code = 1
    try:
        from conveyor.cli.main import cli

        cli.main(args=argv, prog_name="conveyor", standalone_mode=True)
        code = 0
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        import traceback

        traceback.print_exc()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):
            stream.flush()
    with contextlib.suppress(OSError):
        _send(conn, {"exit": code})
    os._exit(code)


_PACKAGE_INIT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "__init__.py"
)


def _stop_stale_agents(folder: str, own_pid_file: str, identity: dict[str, str]) -> None:
    """Stop agents of the same Python, installation and import-time environment whose code
    has since changed."""
    for name in os.listdir(folder):
        other = os.path.join(folder, name)
        if not name.endswith(".pid") or other == own_pid_file:
            continue
        try:
            with open(other) as fh:
                info = json.load(fh)
            same = all(info.get(k) == v for k, v in identity.items())
            if same and int(info["pid"]) != os.getpid():
                os.kill(int(info["pid"]), signal.SIGTERM)
                log = other[: -len(".pid")] + ".log"
                if os.path.exists(log):
                    os.unlink(log)
        except (OSError, ValueError, KeyError, TypeError):
            continue


def serve(path: str, idle_seconds: float = DEFAULT_IDLE_SECONDS) -> None:
    """Listen on ``path`` and fork a child per request until idle for ``idle_seconds``."""
    import select
    import time

    _PRELOAD["sys_path"] = list(sys.path)
    _PRELOAD["import"] = json.loads(json.dumps(agent_parity.import_signature(os.environ)))
    _preload()
    tmp = f"{path}.{os.getpid()}.tmp"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with _Address(tmp) as address:
        server.bind(address)
    os.chmod(tmp, 0o600)
    server.listen(64)
    os.replace(tmp, path)  # atomic: a racing agent's socket is simply replaced
    inode = os.stat(path).st_ino
    pid_file = path[: -len(".sock")] + ".pid"
    identity = {
        "executable": sys.executable,
        "package": os.path.dirname(_PACKAGE_INIT),
        "environment": _digest(_PRELOAD["import"]),  # agents of other environments stay up
    }
    with open(pid_file, "w") as fh:
        json.dump({"pid": os.getpid(), **identity}, fh)
    _stop_stale_agents(os.path.dirname(path), pid_file, identity)
    children: set[int] = set()
    last_active = time.monotonic()
    try:
        while True:
            ready, _, _ = select.select([server], [], [], 1.0)
            while children:
                try:
                    pid, _ = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    children.clear()
                    break
                if pid == 0:
                    break
                children.discard(pid)
            if children:
                last_active = time.monotonic()
            try:
                if os.stat(path).st_ino != inode:
                    return  # another agent took over this socket name
            except FileNotFoundError:
                return
            if not ready:
                if time.monotonic() - last_active > idle_seconds:
                    return
                continue
            conn, _ = server.accept()
            last_active = time.monotonic()
            try:
                request, fds = _recv(conn, with_fds=True)
            except (OSError, ConnectionError, ValueError):
                conn.close()
                continue
            pid = os.fork()
            if pid == 0:
                server.close()
                try:
                    _child(conn, request, fds)
                finally:
                    os._exit(1)
            children.add(pid)
            conn.close()
            for fd in fds:
                os.close(fd)
    finally:
        server.close()
        try:
            if os.stat(path).st_ino == inode:
                os.unlink(path)
        except FileNotFoundError:
            pass
        try:
            with open(pid_file) as fh:
                mine = json.load(fh).get("pid") == os.getpid()
        except (OSError, ValueError, AttributeError):
            mine = False
        if mine:  # a racing agent may have written its own pid there: leave that one
            os.unlink(pid_file)


def main(argv: list[str] | None = None) -> None:
    """``python -m conveyor.cli.agent_server --socket PATH``: run an agent (started by the CLI)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m conveyor.cli.agent_server")
    parser.add_argument("--socket", required=True)
    args = parser.parse_args(argv)
    idle = float(os.environ.get("CONVEYOR_AGENT_IDLE", DEFAULT_IDLE_SECONDS))
    os.chdir("/")  # hold no user folder open; each child moves to its client's folder
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))  # clean up the socket
    serve(args.socket, idle)


if __name__ == "__main__":
    main()
