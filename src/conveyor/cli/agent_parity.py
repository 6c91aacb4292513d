"""What makes a run through the warm agent behave as a direct run: the caller's process state
(umask, resource limits, priority, CPU affinity, ignored signals, time zone) applied in the
agent's child, and the checks that send a command back to a direct run when the agent cannot
reproduce it (an environment fixed at import time, a project module that shadows a preloaded one).

Standard library only: the client half imports it on every command.
"""

from __future__ import annotations

import os
import signal
import sys

TYPE_CHECKING = False  # the client half stays light
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

__all__ = [
    "IMPORT_TIME_PREFIXES",
    "RELAYED_SIGNALS",
    "apply_state",
    "capture_state",
    "import_signature",
    "shadowed_modules",
]

IMPORT_TIME_PREFIXES = (
    "PYTHON",  # PYTHONHASHSEED, PYTHONWARNINGS, PYTHONPATH, PYTHONDEVMODE, PYTHONUTF8, ...
    "LD_",  # the dynamic loader: read when a native library loads
    "OMP_",
    "GOMP_",
    "KMP_",
    "MKL_",
    "OPENBLAS_",
    "BLIS_",
    "VECLIB_",
    "NUMEXPR_",
    "ARROW_",
    "MALLOC_",
    "LC_",
)
"""Environment variables read when the interpreter starts or a library is imported (the
agent imported them once, under its own environment). A caller whose values differ is served
by another agent, started under the caller's environment."""

_IMPORT_TIME_NAMES = frozenset({"LANG", "LANGUAGE"})

RELAYED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
"""Signals the client forwards to the agent's child, unless the caller ignores them (``nohup``
ignores SIGHUP, a shell's ``&`` ignores SIGINT and SIGQUIT); the child then ignores them too."""

_RLIMITS = (
    "RLIMIT_AS",
    "RLIMIT_CORE",
    "RLIMIT_CPU",
    "RLIMIT_DATA",
    "RLIMIT_FSIZE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_NOFILE",
    "RLIMIT_NPROC",
    "RLIMIT_STACK",
)


def import_signature(environ: Mapping[str, str]) -> list[Any]:
    """What was fixed when the agent started: interpreter flags, ``-W`` options, the
    environment variables read at start-up or import (see ``IMPORT_TIME_PREFIXES``) and the
    CPU affinity (native thread pools such as OpenBLAS size themselves on it when they load).

    The environment is taken as the ``conveyor`` command sets it up (``configure_openmp``), so
    any process computes the same signature for the same caller."""
    from conveyor._internal.openmp import configure_openmp

    prepared = dict(environ)
    configure_openmp(prepared)
    env = sorted(
        (k, v)
        for k, v in prepared.items()
        if k.startswith(IMPORT_TIME_PREFIXES)
        or k.endswith("_NUM_THREADS")
        or k in _IMPORT_TIME_NAMES
    )
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return [list(sys.flags), sys.warnoptions, sys.getfilesystemencoding(), env, cpus]


def capture_state() -> dict[str, Any]:
    """The caller's process state that a forked child does not inherit from it."""
    import resource

    mask = os.umask(0o022)
    os.umask(mask)
    limits = {}
    for name in _RLIMITS:
        if hasattr(resource, name):
            limits[name] = list(resource.getrlimit(getattr(resource, name)))
    ignored = [
        name
        for name in RELAYED_SIGNALS
        if signal.getsignal(getattr(signal, name)) is signal.SIG_IGN
    ]
    state: dict[str, Any] = {
        "umask": mask,
        "rlimits": limits,
        "priority": os.getpriority(os.PRIO_PROCESS, 0),
        "ignored_signals": ignored,
    }
    if hasattr(os, "sched_getaffinity"):
        state["affinity"] = sorted(os.sched_getaffinity(0))
    return state


def apply_state(state: Mapping[str, Any]) -> str | None:
    """Make this process (the agent's child) match the caller's ``state``.

    Returns why it cannot (a limit or priority the agent may not raise back), else None.
    """
    import resource

    try:
        for name, (soft, hard) in state.get("rlimits", {}).items():
            if not hasattr(resource, name):
                continue
            which = getattr(resource, name)
            if resource.getrlimit(which) != (soft, hard):
                resource.setrlimit(which, (soft, hard))
    except (OSError, ValueError) as exc:
        return f"cannot apply the caller's resource limit {name} ({exc})"
    priority = state.get("priority")
    if priority is not None and os.getpriority(os.PRIO_PROCESS, 0) != priority:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, int(priority))
        except OSError as exc:
            return f"cannot apply the caller's priority {priority} ({exc})"
    affinity = state.get("affinity")
    if affinity is not None and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, affinity)
        except OSError as exc:
            return f"cannot apply the caller's CPU affinity {affinity} ({exc})"
    os.umask(int(state.get("umask", 0o022)))
    ignored = set(state.get("ignored_signals", ()))
    for name in RELAYED_SIGNALS:
        sig = getattr(signal, name)
        if name in ignored:
            signal.signal(sig, signal.SIG_IGN)
        elif sig == signal.SIGINT:
            signal.signal(sig, signal.default_int_handler)
        else:
            signal.signal(sig, signal.SIG_DFL)
    return None


def _module_names(folder: str) -> set[str]:
    """Top-level modules a folder on ``sys.path`` provides (namespace folders never shadow)."""
    names: set[str] = set()
    try:
        entries = os.listdir(folder)
    except OSError:
        return names
    for entry in entries:
        stem, dot, suffix = entry.partition(".")
        if not dot:
            if os.path.isfile(os.path.join(folder, entry, "__init__.py")):
                names.add(entry)
        elif suffix in ("py", "pyc") or suffix.endswith("so"):
            names.add(stem)
    return names


def shadowed_modules(
    folders: Iterable[str], modules: Mapping[str, Any], preload_path: Iterable[str]
) -> list[str]:
    """Modules the agent has loaded (``modules``, as ``sys.modules``) that one of ``folders``
    (the caller's own ``sys.path`` entries, working directory and pipeline folders) would
    provide instead in a direct run."""
    top = {name for name in modules if "." not in name}
    known = {os.path.abspath(p or ".") for p in preload_path}
    found: set[str] = set()
    for folder in folders:
        folder = os.path.abspath(folder)
        if folder in known:
            continue
        for name in _module_names(folder) & top:
            origin = getattr(modules[name], "__file__", None) or ""
            if not origin.startswith(folder + os.sep):  # not the very module it provides
                found.add(name)
    return sorted(found)
