"""Who owns a run: the identity of the orchestrator process that drives it, and whether that
process still lives (so that a run whose orchestrator died can be marked failed, and only then).

A pid alone does not name a process: pids are reused, a machine reboots, and a process in
another PID namespace (a container, ``unshare --pid``) has a pid that means another process, or
none, out here. The owner is therefore recorded as host, pid, boot id, PID namespace and the
process's start time (clock ticks since boot), and judged dead only when that is certain.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any

from conveyor._internal.processes import stat_fields

__all__ = ["owner_alive", "owner_identity"]

_INITIAL_PID_NS = "pid:[4026531836]"
"""The kernel's initial PID namespace (PROC_PID_INIT_INO): from it every process is visible."""


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return None


def _boot_id() -> str | None:
    return _read("/proc/sys/kernel/random/boot_id")


def _pid_ns(pid: int | str = "self") -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _start_ticks(pid: int | str) -> int | None:
    fields = stat_fields(pid)
    try:
        return int(fields[19]) if fields else None  # field 22: starttime
    except (IndexError, ValueError):
        return None


def owner_identity() -> dict[str, Any]:
    """This process as a run's owner: ``host``, ``pid``, ``boot_id``, ``pid_ns``, ``pid_start``
    (the last three where ``/proc`` tells them).

    Example:
        >>> sorted(owner_identity())  # doctest: +SKIP
        ['boot_id', 'host', 'pid', 'pid_ns', 'pid_start']
    """
    found: dict[str, Any] = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "boot_id": _boot_id(),
        "pid_ns": _pid_ns(),
        "pid_start": _start_ticks("self"),
    }
    return {k: v for k, v in found.items() if v is not None}


def _pid_alive(pid: int) -> bool:
    """Whether a process runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = stat_fields(pid)
    return not fields or fields[0] != "Z"


def _same(recorded: Any, actual: Any) -> bool:
    """Recorded and actual agree, or one of them is unknown."""
    return recorded is None or actual is None or recorded == actual


def owner_alive(owner: Mapping[str, Any]) -> bool:
    """Whether the process ``owner`` (a run's recorded properties) names may still run.

    ``False`` only when that is certain: another boot, no such process, a zombie, or a process
    that started at another time (the pid was reused). A process of another host, or of a PID
    namespace this process cannot see into, counts as alive.
    """
    pid = owner.get("pid")
    if not isinstance(pid, int) or owner.get("host") != socket.gethostname():
        return True
    if not _same(owner.get("boot_id"), _boot_id()):
        return False  # the machine restarted since
    start = owner.get("pid_start")
    ns, mine = owner.get("pid_ns"), _pid_ns()
    if _same(ns, mine):
        return _pid_alive(pid) and _same(start, _start_ticks(pid))
    return _alive_in_namespace(str(ns), pid, start, can_see_all=mine == _INITIAL_PID_NS)


def _alive_in_namespace(ns: str, pid: int, start: Any, *, can_see_all: bool) -> bool:
    """Look for process ``pid`` of namespace ``ns`` among the processes visible here."""
    namespace_seen = unsure = False
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != ns:
                continue
        except PermissionError:
            unsure = True  # another user's process: it could be the one
            continue
        except OSError:
            continue  # it just ended
        namespace_seen = True
        status = _read(f"/proc/{entry}/status") or ""
        nspid = next((ln.split()[1:] for ln in status.splitlines() if ln.startswith("NSpid:")), [])
        if nspid and nspid[-1] == str(pid):  # its pid inside its own namespace
            return _pid_alive(int(entry)) and _same(start, _start_ticks(entry))
    if namespace_seen:
        return unsure  # the namespace lives on, without the owner
    # No process of that namespace here: it is gone, if this process sees every namespace.
    return unsure or not can_see_all
