"""Probe pipelines: what a step sees of its process, to compare direct runs with agent runs."""

from __future__ import annotations

import json
import os
import time

import yaml

from conveyor import component, pipeline


@component
def observe(out_file: str) -> None:
    """Write what this step's process sees (umask, limits, priority, time zone...) as JSON."""
    import resource
    import signal
    import sys
    import warnings

    import numpy  # noqa: F401 - loads BLAS
    from threadpoolctl import threadpool_info

    with open(out_file + ".made", "w") as fh:
        fh.write("a file made by the step")
    seeded = bool(os.environ.get("PYTHONHASHSEED"))
    seen = {
        "made_file_mode": oct(os.stat(out_file + ".made").st_mode & 0o777),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
        "address_space": resource.getrlimit(resource.RLIMIT_AS),
        "priority": os.getpriority(os.PRIO_PROCESS, 0),
        "affinity": sorted(os.sched_getaffinity(0)),
        "time_zone": [list(time.tzname), time.timezone, time.strftime("%H", time.localtime(0))],
        "hash_seed": [sys.flags.hash_randomization, hash("conveyor") if seeded else None],
        "warning_filters": [str(f) for f in warnings.filters],
        "blas_threads": sorted(
            i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"
        ),
        "yaml": getattr(yaml, "PROBE_ORIGIN", "installed"),
        "ignored_signals": sorted(
            name
            for name in ("SIGHUP", "SIGINT", "SIGQUIT")
            if signal.getsignal(getattr(signal, name)) is signal.SIG_IGN
        ),
        "served_by_agent": bool(os.environ.get("CONVEYOR_AGENT_CHILD")),
    }
    with open(out_file, "w") as fh:
        json.dump(seen, fh)


@pipeline(name="probe")
def probe(out_file: str) -> None:
    """One step that reports its process."""
    observe(out_file=out_file)


@component
def wait_for_go(marker_dir: str) -> None:
    """Say it started (with its pid and its parent's), then wait until ``go`` exists."""
    with open(os.path.join(marker_dir, "started.tmp"), "w") as fh:
        json.dump({"pid": os.getpid(), "parent": os.getppid()}, fh)
    os.replace(os.path.join(marker_dir, "started.tmp"), os.path.join(marker_dir, "started"))
    while not os.path.exists(os.path.join(marker_dir, "go")):
        time.sleep(0.02)


@pipeline(name="paused")
def paused(marker_dir: str) -> None:
    """One step that runs until the test lets it finish."""
    wait_for_go(marker_dir=marker_dir)
