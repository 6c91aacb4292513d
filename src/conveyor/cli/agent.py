"""The warm agent (opt-in, ``CONVEYOR_AGENT=on``): a pre-started process that serves
``conveyor`` commands without start-up.

The agent imports Conveyor's own stack once (never user code) and waits on a private Unix
socket. A command (``conveyor run``, ``plan``, ``data``, ``show``... see
``launch.AGENT_COMMANDS``) connects, hands over its terminal (stdin/stdout/stderr file
descriptors), working directory, environment, arguments and process state (umask, resource
limits, priority, CPU affinity, ignored signals: ``agent_parity``); the agent forks a child
that takes all of that on and becomes the orchestrator of that run, as if the command had
started it, and reports the exit code back. When the child cannot reproduce a direct run (a
limit it may not raise back, a project module shadowing one the agent preloaded) it says so
and the command runs directly. The client relays Ctrl-C, SIGTERM, SIGHUP and SIGQUIT (unless
the caller ignores them) and Ctrl-Z / ``fg`` to the child's process group; if the client dies
(even by ``kill -9``) the child kills itself, so the agent never keeps a run the user abandoned.

The first such command starts the agent in the background and runs directly; later ones
use it. An agent serves one Python, one Conveyor installation, one set of installed packages
and one import-time environment (``PYTHONPATH``, ``PYTHONHASHSEED``, thread counts...: its
socket name is a hash of them), and exits after ``CONVEYOR_AGENT_IDLE`` seconds without
work (default 600); ``conveyor agent status|stop`` inspects or stops it.

This module is the client half (standard library only); ``agent_server`` is the agent.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys
import zlib

from conveyor.cli import agent_parity
from conveyor.cli.launch import AGENT_OFF

TYPE_CHECKING = False  # the client half stays light: typing and contextlib cost ~5 ms
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "DEFAULT_IDLE_SECONDS",
    "agent_dir",
    "agent_enabled",
    "agent_socket_path",
    "list_agents",
    "run_via_agent",
]

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
        agent_parity.import_signature(os.environ),
        files,
    ]


def _digest(value: Any) -> str:
    data = json.dumps(value).encode()
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"  # an id, not a security check


def agent_socket_path() -> str:
    """The socket of the agent matching this Python, installation, package set and
    import-time environment."""
    return os.path.join(agent_dir(), f"agent-{_digest(_code_signature())}.sock")


_ON = ("on", "1", "true", "yes")


def agent_enabled() -> bool:
    """Whether ``CONVEYOR_AGENT`` asks for the warm agent (it is off unless set to ``on``)."""
    value = os.environ.get("CONVEYOR_AGENT", "").strip().lower()
    if value in _ON:
        return True
    if value not in AGENT_OFF:
        print(
            f"conveyor: CONVEYOR_AGENT={os.environ['CONVEYOR_AGENT']!r} is neither on "
            "(on, 1, true, yes) nor off (off, 0, false, no); running without the warm agent",
            file=sys.stderr,
        )
    return False


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
            [sys.executable, "-m", "conveyor.cli.agent_server", "--socket", path],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=os.path.dirname(path),  # never a project folder: its modules must not load
            start_new_session=True,
            close_fds=True,
        )
    finally:
        log.close()


def run_via_agent(argv: list[str]) -> int | None:
    """Run ``conveyor ARGV`` in the agent; None when no agent can serve it (run directly).

    Starts an agent for next time when none is listening. Off unless ``CONVEYOR_AGENT=on``.
    """
    if not agent_enabled():
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
    state = agent_parity.capture_state()
    request = {
        "argv": argv,
        "cwd": os.getcwd(),
        "env": dict(os.environ),
        "sys_path": sys.path,
        "fds": [fd >= 0 for fd in fds],
        "state": state,
        "import": agent_parity.import_signature(os.environ),
    }
    try:
        _send(sock, request, [fd for fd in fds if fd >= 0])
        reply, _ = _recv(sock)
    except (OSError, ConnectionError, ValueError):
        sock.close()
        return None  # the agent went away before starting: run directly
    if "pid" not in reply:
        sock.close()
        return None  # the agent cannot reproduce a direct run (see its log): run directly
    _relay_signals(int(reply["pid"]), state["ignored_signals"])
    try:
        done, _ = _recv(sock)
        return int(done.get("exit", 1))
    except (OSError, ConnectionError, ValueError):
        print("conveyor: the agent process serving this run died", file=sys.stderr)
        return 1
    finally:
        sock.close()


def _relay_signals(child: int, ignored: list[str]) -> None:
    """Relay to the child (the leader of its own process group) what a terminal would send a
    direct run: Ctrl-C, SIGTERM, SIGHUP and SIGQUIT unless ignored here, and Ctrl-Z / ``fg``."""

    def forward(signum: int, frame: Any) -> None:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    def suspend(signum: int, frame: Any) -> None:
        try:
            os.killpg(child, signal.SIGSTOP)  # the run and its workers, as a terminal would
        except ProcessLookupError:
            pass
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)  # stop here too, until the shell's fg / SIGCONT
        signal.signal(signal.SIGTSTP, suspend)

    def resume(signum: int, frame: Any) -> None:
        try:
            os.killpg(child, signal.SIGCONT)
        except ProcessLookupError:
            pass

    for name in agent_parity.RELAYED_SIGNALS:
        if name not in ignored:
            signal.signal(getattr(signal, name), forward)
    if signal.getsignal(signal.SIGTSTP) is not signal.SIG_IGN:
        signal.signal(signal.SIGTSTP, suspend)
    signal.signal(signal.SIGCONT, resume)


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
