"""The processes a step starts end with the step: find a process's descendants, end them.

A step's code may start processes (``subprocess.Popen``, a shell that puts a job in the
background, a server it forgot to stop). They must not outlive the step: while it runs, the
process that runs it is a *child subreaper* (Linux ``PR_SET_CHILD_SUBREAPER``), so that an
orphaned grandchild (``sh -c 'sleep 1000 &'``) is reparented to it instead of to init and stays
in its tree, even when it left the process group or the session. When the step ends (returns,
fails, times out or is cancelled), every descendant that was not there before gets SIGTERM,
then SIGKILL after a grace period, and is reaped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # ctypes loads when a step first runs: a cached run needs none
    import ctypes

__all__ = ["descendants", "end_processes", "kill_tree", "stat_fields", "step_processes"]

TERM_GRACE_SECONDS = 1.0
"""How long a step's leftover process has to exit after SIGTERM before SIGKILL."""

_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37
_libc: ctypes.CDLL | None = None


def _prctl(option: int, arg: Any) -> bool:
    global _libc
    if not sys.platform.startswith("linux"):
        return False
    try:
        if _libc is None:
            import ctypes

            _libc = ctypes.CDLL(None, use_errno=True)
        return bool(_libc.prctl(option, arg, 0, 0, 0) == 0)
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        return False


def _subreaper() -> bool:
    import ctypes

    value = ctypes.c_int(0)
    _prctl(_PR_GET_CHILD_SUBREAPER, ctypes.pointer(value))
    return bool(value.value)


def stat_fields(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state first), None when the
    process is gone.

    Example:
        >>> stat_fields("self")[0] in "RS"  # doctest: +SKIP
        True
    """
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    if ")" not in text:
        return None
    return text.rsplit(")", 1)[1].split()


def _state(pid: int) -> str | None:
    """The process's state letter (``Z`` for a zombie), None when it is gone."""
    fields = stat_fields(pid)
    return fields[0] if fields else None


def _children_files() -> bool:
    """Whether this kernel lists children in ``/proc/PID/task/TID/children``."""
    return os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []  # the process ended
    found: list[int] = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as fh:
                found += [int(c) for c in fh.read().split()]
        except (OSError, ValueError):  # the thread ended
            continue
    return found


def descendants(pid: int | None = None) -> list[int]:
    """Every live (not zombie) descendant of ``pid`` (default: this process), parents first."""
    root = os.getpid() if pid is None else pid
    if not _children_files():  # ask psutil (slower: it scans every process)
        import psutil  # type: ignore[import-untyped]

        try:
            procs = psutil.Process(root).children(recursive=True)
        except psutil.Error:
            return []
        return [p.pid for p in procs if _state(p.pid) != "Z"]
    found: list[int] = []
    queue = _children(root)
    while queue:
        child = queue.pop(0)
        if child in found:
            continue
        found.append(child)
        queue += _children(child)
    return [p for p in found if _state(p) not in (None, "Z")]


def _signal(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def _reap(pids: Iterable[int]) -> None:
    """Collect the exit status of those that are (now) this process's children."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def end_processes(pids: list[int], grace: float = TERM_GRACE_SECONDS) -> None:
    """SIGTERM ``pids``, SIGKILL those still running after ``grace`` seconds, reap them."""
    if not pids:
        return
    _signal(pids, signal.SIGTERM)
    end = time.monotonic() + grace
    while True:
        _reap(pids)
        alive = [p for p in pids if _state(p) not in (None, "Z")]
        if not alive:
            break
        if time.monotonic() >= end:
            _signal(alive, signal.SIGKILL)
            time.sleep(0.01)
            _reap(alive)
            break
        time.sleep(0.01)


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and all its descendants: stopped first, so none can start another."""
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGSTOP)
    killed: set[int] = set()
    for _ in range(100):  # each round kills what the previous one's processes had started
        new = [p for p in descendants(pid) if p not in killed]
        if not new:
            break
        _signal(new, signal.SIGKILL)
        killed.update(new)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


_HELPERS = (
    # (module, object, attribute holding the helper's pid)
    ("multiprocessing.resource_tracker", "_resource_tracker", "_pid"),
    ("multiprocessing.forkserver", "_forkserver", "_forkserver_pid"),
    ("joblib.externals.loky.backend.resource_tracker", "_resource_tracker", "_pid"),
    ("loky.backend.resource_tracker", "_resource_tracker", "_pid"),
)
"""Helper processes that serve the whole interpreter, not one step, and exit with it (they
read a pipe from it): ending them would only make the next step relaunch them, with warnings
about leaked resources."""


def _helper_pids() -> set[int]:
    pids = set()
    for module, name, attribute in _HELPERS:
        found = getattr(getattr(sys.modules.get(module), name, None), attribute, None)
        if isinstance(found, int):
            pids.add(found)
    return pids


def _stop_reusable_pools() -> None:
    """Shut down joblib's reusable process pool (loky) the way it expects, so that its manager
    thread does not see its workers die (a step that uses ``n_jobs`` leaves it running)."""
    for module in ("joblib.externals.loky.reusable_executor", "loky.reusable_executor"):
        executor = getattr(sys.modules.get(module), "_executor", None)
        if executor is not None:
            with contextlib.suppress(Exception):
                executor.shutdown(wait=True, kill_workers=True)


@contextlib.contextmanager
def step_processes() -> Iterator[None]:
    """End, when the block ends (however it ends), every process started inside it, except
    the interpreter's own helpers (multiprocessing's resource tracker and fork server)."""
    before = set(descendants())
    was_subreaper = _subreaper()
    if not was_subreaper:
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    try:
        yield
    finally:
        pools_stopped = False
        for _ in range(10):  # a process may start another while the first are ending
            keep = before | _helper_pids()
            started = [p for p in descendants() if p not in keep]
            if not started:
                break
            if not pools_stopped:
                pools_stopped = True
                _stop_reusable_pools()
                continue
            end_processes(started)
        if not was_subreaper:
            _prctl(_PR_SET_CHILD_SUBREAPER, 0)
        # orphans that ended on their own during the block were reparented here: reap them
        _reap(p for p in _children(os.getpid()) if p not in before and _state(p) == "Z")
