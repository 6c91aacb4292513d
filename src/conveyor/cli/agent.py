"""The warm agent: a pre-started process that serves ``conveyor`` commands without start-up.

Starting Python and importing SQLAlchemy, Alembic, pyarrow, click and rich costs a fresh
process 0.3 s or more, more than a whole small pipeline run. The agent pays it once: it
imports Conveyor's own stack (never user code) and waits on a private Unix socket. A command
(``conveyor run``, ``plan``, ``data``, ``show``... see ``launch.AGENT_COMMANDS``) connects,
hands over its terminal (stdin/stdout/stderr file descriptors), working directory,
environment and arguments; the agent forks a child that becomes the
orchestrator of that run, exactly as if the command had started it, and reports the exit
code back. The client forwards Ctrl-C and SIGTERM to the child; if the client dies (even
by ``kill -9``) the child kills itself, so the agent never keeps a run the user abandoned.

The first such command starts the agent in the background and runs directly; later ones
use it. An agent serves one Python, one Conveyor installation and one set of
installed packages (its socket name is a hash of them), and exits after
``CONVEYOR_AGENT_IDLE`` seconds without work (default 600). ``CONVEYOR_AGENT=off``
disables it; ``conveyor agent status|stop`` inspects or stops it.

This module's client half imports only the standard library.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys
import zlib

TYPE_CHECKING = False  # the client half stays light: typing and contextlib cost ~5 ms
if TYPE_CHECKING:
    from typing import Any

__all__ = ["agent_dir", "agent_socket_path", "list_agents", "run_via_agent", "serve"]

DEFAULT_IDLE_SECONDS = 600.0
_HEADER = struct.Struct("!I")
_MAX_MESSAGE = 16 * 1024 * 1024


# --- shared -----------------------------------------------------------------------------------


def agent_dir() -> str:
    """The private folder (mode 0700) holding agent sockets for this user."""
    runtime = os.environ.get("XDG_RUNTIME_DIR") or os.environ.get("TMPDIR") or "/tmp"
    base = os.environ.get("CONVEYOR_AGENT_DIR") or os.path.join(
        runtime, f"conveyor-agent-{os.getuid()}"
    )
    os.makedirs(base, mode=0o700, exist_ok=True)
    st = os.stat(base)
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise PermissionError(
            f"Agent folder {base!r} must belong to you with mode 0700; remove it or set "
            "CONVEYOR_AGENT_DIR to a private folder"
        )
    return base


def _code_signature() -> list[Any]:
    """What the agent's preloaded code depends on: change any of it and a new agent starts."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    files: list[Any] = []
    for dirpath, dirnames, filenames in os.walk(package):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                st = os.stat(os.path.join(dirpath, name))
                files.append(
                    (
                        os.path.relpath(os.path.join(dirpath, name), package),
                        st.st_mtime_ns,
                        st.st_size,
                    )
                )
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = os.path.join(sys.prefix, "lib", version, "site-packages")  # pip installs change it
    site_mtime = os.stat(site).st_mtime_ns if os.path.isdir(site) else 0
    return [
        sys.executable,
        sys.version,
        package,
        site_mtime,
        os.environ.get("PYTHONPATH", ""),
        files,
    ]


def agent_socket_path() -> str:
    """The socket of the agent matching this Python, installation and package set."""
    data = json.dumps(_code_signature()).encode()
    digest = f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"  # an id, not a security check
    return os.path.join(agent_dir(), f"agent-{digest}.sock")


class _Address:
    """A Unix socket address short enough for the kernel's 108-byte limit.

    Long paths (deep temporary folders) are reached through ``/proc/self/fd/N/NAME`` with
    N an open descriptor of the folder.
    """

    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> str:
        if len(self.path.encode()) < 100:
            return self.path
        self._fd = os.open(os.path.dirname(self.path), os.O_RDONLY)
        return f"/proc/self/fd/{self._fd}/{os.path.basename(self.path)}"

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _send(sock: socket.socket, data: dict[str, Any], fds: list[int] | None = None) -> None:
    payload = json.dumps(data).encode()
    message = _HEADER.pack(len(payload)) + payload
    if fds:
        socket.send_fds(sock, [message], fds)
    else:
        sock.sendall(message)


def _recv_exact(sock: socket.socket, n: int, first: bytes = b"") -> bytes:
    data = first
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("agent connection closed")
        data += chunk
    return data


def _recv(sock: socket.socket, with_fds: bool = False) -> tuple[dict[str, Any], list[int]]:
    fds: list[int] = []
    if with_fds:
        first, fds, _, _ = socket.recv_fds(sock, 65536, 3)
        if not first:
            raise ConnectionError("agent connection closed")
    else:
        first = b""
    head = _recv_exact(sock, _HEADER.size, first[: _HEADER.size])
    (size,) = _HEADER.unpack(head)
    if size > _MAX_MESSAGE:
        raise ConnectionError("agent message too large")
    body = _recv_exact(sock, size, first[_HEADER.size :])
    return json.loads(body), fds


# --- client -----------------------------------------------------------------------------------


def _start_agent(path: str) -> None:
    import subprocess

    log = open(path[: -len(".sock")] + ".log", "ab")  # noqa: SIM115 - handed to the child
    try:
        subprocess.Popen(
            [sys.executable, "-m", "conveyor.cli.agent", "--socket", path],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        log.close()


def run_via_agent(argv: list[str]) -> int | None:
    """Run ``conveyor ARGV`` in the agent; None when no agent can serve it (run directly).

    Starts an agent for next time when none is listening.
    """
    if os.environ.get("CONVEYOR_AGENT", "auto").lower() in ("off", "0", "false", "no"):
        return None
    try:
        path = agent_socket_path()
    except PermissionError as exc:  # a shared folder: say so, then run without the agent
        print(f"conveyor: warm agent disabled: {exc}", file=sys.stderr)
        return None
    except OSError:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with _Address(path) as address:
            sock.connect(address)
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        try:
            _start_agent(path)
        except OSError:
            pass
        return None
    except OSError:
        sock.close()
        return None
    fds = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:
            fds.append(-1)
    request = {
        "argv": argv,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "sys_path": sys.path,
        "fds": [fd >= 0 for fd in fds],
    }
    try:
        _send(sock, request, [fd for fd in fds if fd >= 0])
        reply, _ = _recv(sock)
    except (OSError, ConnectionError, ValueError):
        sock.close()
        return None  # the agent went away before starting: run directly
    child = int(reply["pid"])

    def forward(signum: int, frame: Any) -> None:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    try:
        done, _ = _recv(sock)
        return int(done.get("exit", 1))
    except (OSError, ConnectionError, ValueError):
        print("conveyor: the agent process serving this run died", file=sys.stderr)
        return 1
    finally:
        sock.close()


def list_agents() -> list[dict[str, Any]]:
    """Agents of this user: socket path, pid, whether it is the current one, liveness."""
    base = agent_dir()
    current = agent_socket_path()
    found = []
    for name in sorted(os.listdir(base)):
        if not name.endswith(".pid"):
            continue
        pid_file = os.path.join(base, name)
        try:
            with open(pid_file) as fh:
                pid = int(json.load(fh)["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        try:
            os.kill(pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        sock = pid_file[: -len(".pid")] + ".sock"
        found.append({"socket": sock, "pid": pid, "alive": alive, "current": sock == current})
    return found


# --- server -----------------------------------------------------------------------------------


def _preload() -> None:
    """Import Conveyor's stack (never user code) so forked children start warm."""
    import importlib

    for name in (
        "conveyor.cli.main",
        "conveyor.cli.render",
        "conveyor.cli.loading",
        "conveyor.cli.inspect",
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
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    try:  # warm SQLAlchemy's SQLite dialect and compiled-statement machinery too
        from conveyor.metadata import connect

        connect("sqlite://").close()
    except Exception:
        pass


def _child(conn: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
    """Become the orchestrator of one ``conveyor`` invocation, then exit."""
    import threading

    from conveyor._internal.streams import fd_stream

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
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ["CONVEYOR_AGENT_CHILD"] = str(os.getppid())
    sys.path[:] = request["sys_path"]
    argv = list(request["argv"])
    sys.argv = ["conveyor", *argv]
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _send(conn, {"pid": os.getpid()})

    def watchdog() -> None:
        try:
            conn.recv(1)
        except OSError:
            pass
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
        try:
            stream.flush()
        except OSError:
            pass
    try:
        _send(conn, {"exit": code})
    except OSError:
        pass
    os._exit(code)


_PACKAGE_INIT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "__init__.py"
)


def _stop_stale_agents(folder: str, own_pid_file: str, identity: dict[str, str]) -> None:
    """Stop agents of the same Python and installation whose code has since changed."""
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
    identity = {"executable": sys.executable, "package": os.path.dirname(_PACKAGE_INIT)}
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
    """``python -m conveyor.cli.agent --socket PATH``: run an agent (started by the CLI)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m conveyor.cli.agent")
    parser.add_argument("--socket", required=True)
    args = parser.parse_args(argv)
    idle = float(os.environ.get("CONVEYOR_AGENT_IDLE", DEFAULT_IDLE_SECONDS))
    os.chdir("/")  # hold no user folder open; each child moves to its client's folder
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))  # clean up the socket
    serve(args.socket, idle)


if __name__ == "__main__":
    main()
