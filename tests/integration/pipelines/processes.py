"""Pipelines for how a run treats what it does not own: its output channel and the
processes its steps start."""

from __future__ import annotations

import os
import subprocess
import time

from conveyor import Dataset, Input, Output, component, pipeline


def _wait_for(path: str, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while not os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.02)


@component
def gate(gate_dir: str, out: Output[Dataset]) -> int:
    """Say it started, wait for ``<gate_dir>/go``, then print and write its output."""
    open(os.path.join(gate_dir, "started"), "w").close()
    _wait_for(os.path.join(gate_dir, "go"))
    for i in range(200):
        print(f"line {i} of the gated step")
    with open(out.path, "w") as fh:
        fh.write("gated")
    return 200


@component
def after_gate(data: Input[Dataset]) -> int:
    """Print again after the gate."""
    with open(data.path) as fh:
        text = fh.read()
    print(f"read {text!r}")
    return len(text)


@pipeline(name="gated")
def gated(gate_dir: str):
    """gate -> after_gate: output keeps coming after the gate opens."""
    g = gate(gate_dir=gate_dir)
    after_gate(data=g.outputs["out"])


def _start_children(pid_dir: str) -> None:
    """A child (``sleep``) and a grandchild whose parent shell has already exited."""
    child = subprocess.Popen(["sleep", "1000"])
    shell = subprocess.run(
        ["sh", "-c", "sleep 1000 >/dev/null 2>&1 & echo $!"],
        capture_output=True,
        text=True,
        check=True,
    )
    grandchild = int(shell.stdout.strip())
    with open(os.path.join(pid_dir, "pids.tmp"), "w") as fh:
        fh.write(f"{child.pid} {grandchild}")
    os.replace(os.path.join(pid_dir, "pids.tmp"), os.path.join(pid_dir, "pids"))


@component
def spawns(pid_dir: str, end: str) -> int:
    """Start processes, then end as asked: ``return``, ``raise``, ``hang`` (for a timeout or
    a cancel)."""
    _start_children(pid_dir)
    if end == "raise":
        raise RuntimeError("failing with children alive")
    if end == "hang":
        time.sleep(1000)
    return 1


@component
def after_spawns(n: int) -> int:
    """A later step in the same worker."""
    return n + 1


@pipeline(name="spawner")
def spawner(pid_dir: str, end: str = "return"):
    """spawns -> after_spawns."""
    s = spawns(pid_dir=pid_dir, end=end)
    after_spawns(n=s.outputs["Output"])


@pipeline(name="spawner-timeout")
def spawner_timeout(pid_dir: str):
    """A step that starts processes and then runs past its timeout."""
    spawns(pid_dir=pid_dir, end="hang").set_timeout(1)


@component
def half_writes(gate_dir: str, n: int, model: Output[Dataset]) -> None:
    """Write part of its output folder, say so, then wait to be killed."""
    os.makedirs(model.path)
    with open(os.path.join(model.path, "part-0"), "w") as fh:
        fh.write("half" * n)
    open(os.path.join(gate_dir, "half-started"), "w").close()
    time.sleep(1000)


@pipeline(name="half-written")
def half_written(gate_dir: str):
    """gate opens at once -> half_writes (killed while it writes)."""
    g = gate(gate_dir=gate_dir)
    half_writes(gate_dir=gate_dir, n=g.outputs["Output"])


@component(timeout=1)
def spawns_and_ignores_timeout(pid_dir: str) -> None:
    """Start processes, then block the timer signal: only the worker's kill stops it."""
    import signal

    _start_children(pid_dir)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    end = time.monotonic() + 60
    while time.monotonic() < end:
        time.sleep(0.01)


@pipeline(name="spawner-stuck")
def spawner_stuck(pid_dir: str):
    """A step that starts processes and ignores its timeout."""
    spawns_and_ignores_timeout(pid_dir=pid_dir)


@component
def joblib_pool(pid_dir: str, seed: int) -> int:
    """Use joblib's reusable process pool (as scikit-learn's ``n_jobs`` does); record its
    workers' pids."""
    import psutil
    from joblib import Parallel, delayed

    total = sum(Parallel(n_jobs=2, backend="loky")(delayed(pow)(seed + i, 2) for i in range(8)))
    workers = [
        p.pid
        for p in psutil.Process().children(recursive=True)
        if any("popen_loky" in part for part in p.cmdline())
    ]
    with open(os.path.join(pid_dir, f"loky-{seed}"), "w") as fh:
        fh.write(" ".join(map(str, workers)))
    return total


@pipeline(name="joblib-steps")
def joblib_steps(pid_dir: str):
    """Two steps in a row that use joblib's process pool."""
    a = joblib_pool(pid_dir=pid_dir, seed=1)
    joblib_pool(pid_dir=pid_dir, seed=a.outputs["Output"])
