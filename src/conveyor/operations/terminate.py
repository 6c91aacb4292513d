"""Terminate a RUNNING run: SIGTERM to the orchestrator process that owns it, which cancels
the run (its steps are stopped, its exit handlers run), after checking that the process IS
that owner (host, boot, PID namespace, start time), so a recycled pid is never signalled."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

from conveyor._internal.processes import stat_fields
from conveyor.metadata.store import MetadataStore
from conveyor.operations.errors import ActionConflict
from conveyor.operations.runs import RUNNING, find_run
from conveyor.orchestrator.local import reconcile_stale_runs
from conveyor.orchestrator.owner import owner_alive, owner_identity
from conveyor.storage import ArtifactStore

__all__ = ["terminate_run"]


def _same_process(owner: dict[str, Any]) -> bool:
    """Whether the recorded owner is, for certain, a live process this one can signal by pid:
    same host, same boot, same PID namespace and the same start time."""
    me = owner_identity()
    pid = owner.get("pid")
    if not isinstance(pid, int) or owner.get("host") != me["host"]:
        return False
    for key in ("boot_id", "pid_ns"):
        if owner.get(key) is None or owner.get(key) != me.get(key):
            return False
    fields = stat_fields(pid)
    if not fields or fields[0] == "Z":
        return False
    try:
        return owner.get("pid_start") is not None and int(fields[19]) == owner["pid_start"]
    except (IndexError, ValueError):
        return False


def terminate_run(
    metadata: MetadataStore,
    run_id: str,
    *,
    wait_seconds: float = 10.0,
    open_storage: Callable[[], ArtifactStore] | None = None,
) -> dict[str, Any]:
    """Ask the run's orchestrator to cancel it and wait (up to ``wait_seconds``) for the run to
    leave RUNNING; return ``{"run_id", "state", "signalled"}`` (state as recorded then).

    Raises:
        NotFoundError: no such run.
        ActionConflict: the run is not RUNNING; it runs on another host or in a PID namespace
            this process cannot see; or its owner is gone (the run is then reconciled: marked
            FAILED as ``reconcile_stale_runs`` does).
    """
    run = find_run(metadata, run_id)
    props = dict(run.properties)
    if props.get("state") != RUNNING:
        raise ActionConflict(
            f"Run {run_id!r} is {props.get('state') or 'not running'}, not RUNNING",
            "Only a running run can be terminated",
        )
    if props.get("host") != socket.gethostname():
        raise ActionConflict(
            f"Run {run_id!r} runs on host {props.get('host')!r}, not on this one "
            f"({socket.gethostname()!r})",
            "Terminate it from that host: conveyor runs terminate " + run_id,
        )
    if not owner_alive(props):
        reconcile_stale_runs(metadata, scan=100_000, open_storage=open_storage)
        state = find_run(metadata, run_id).properties.get("state")
        raise ActionConflict(
            f"The orchestrator process of run {run_id!r} is gone; the run is now {state}",
            "Nothing to terminate. Retry it: conveyor runs retry " + run_id,
        )
    if not _same_process(props):
        raise ActionConflict(
            f"The orchestrator of run {run_id!r} (pid {props.get('pid')}) cannot be identified "
            "for certain from this process (another PID namespace, or no start time recorded)",
            "Terminate it where it runs (Ctrl-C in its terminal, or conveyor runs terminate "
            "inside its container)",
        )
    os.kill(int(props["pid"]), signal.SIGTERM)
    deadline = time.monotonic() + wait_seconds
    state = RUNNING
    while time.monotonic() < deadline:
        state = find_run(metadata, run_id).properties.get("state") or RUNNING
        if state != RUNNING:
            break
        time.sleep(0.1)
    return {"run_id": run_id, "state": state, "signalled": int(props["pid"])}
