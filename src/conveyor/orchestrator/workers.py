"""Pre-started worker processes that run prepared tasks and report back over pipes."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from conveyor._internal.openmp import configure_openmp
from conveyor._internal.processes import kill_tree
from conveyor._internal.streams import fd_stream
from conveyor.errors import RunInterrupted
from conveyor.execution.prepare import PreparedTask
from conveyor.execution.results import RunInfo, TaskResult
from conveyor.execution.task import run_prepared
from conveyor.ir.spec import PipelineSpec
from conveyor.metadata.entities import ExecutionState
from conveyor.orchestrator.logs import capture_fds

if TYPE_CHECKING:  # multiprocessing loads when the first worker starts: a cached run needs none
    from multiprocessing.connection import Connection
    from multiprocessing.context import ForkContext
    from multiprocessing.process import BaseProcess

__all__ = ["Job", "WorkerConfig", "WorkerEvent", "WorkerPool", "start_method"]


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs: the pipeline (inherited through the fork, never pickled) and the
    stores it opens itself after the fork."""

    spec: PipelineSpec
    metadata_url: str
    artifact_root: str
    scratch: str | None = None
    search_root: str | None = None


@dataclass(frozen=True)
class Job:
    """One prepared task to run in a worker."""

    prepared: PreparedTask
    run: RunInfo
    log_path: str
    cache_reason: str = ""
    deadline_seconds: float | None = None
    memory_limit: int | None = None
    """Bytes of resident memory (the worker and its children) past which it is killed."""


@dataclass(frozen=True)
class WorkerEvent:
    """Something that happened to a worker: ``result``, ``died``, ``timeout`` or ``memory``
    (killed over its memory limit; ``peak`` is the resident memory seen, in bytes)."""

    kind: str
    job: Job | None = None
    result: TaskResult | None = None
    exitcode: int | None = None
    peak: int = 0


def _on_term(signum: int, frame: Any) -> None:
    raise RunInterrupted("terminated by the orchestrator")


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this worker when the orchestrator dies (even by kill -9), so no
    orphan keeps computing; its RUNNING execution is reconciled by the next run."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):  # pragma: no cover - exotic libc
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def _worker_main(conn: Connection, cfg: WorkerConfig, parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    # Fresh stream objects: a lock held by another thread of the parent at fork time (the
    # live progress view writes to stdout) must never block this process.
    sys.stdout = fd_stream(1)
    sys.stderr = fd_stream(2)
    import faulthandler

    faulthandler.enable()  # a native crash leaves its Python stack in the step's log
    # Steps share the cores: OpenMP threads must not spin long while they wait.
    configure_openmp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_term)
    from conveyor.metadata import connect
    from conveyor.storage import open_store

    # open the stores now, while the orchestrator prepares the first task
    metadata = connect(cfg.metadata_url)
    storage = open_store(cfg.artifact_root, scratch=cfg.scratch)
    while True:
        try:
            job: Job | None = conn.recv()
        except (EOFError, OSError, RunInterrupted):
            return
        if job is None:
            return
        task = job.prepared.task
        try:
            with capture_fds(job.log_path):
                result = run_prepared(
                    cfg.spec,
                    job.prepared,
                    job.run,
                    metadata,
                    storage,
                    cache_reason=job.cache_reason,
                    log_path=job.log_path,
                    search_root=cfg.search_root,
                )
        except RunInterrupted:
            return
        except Exception as exc:  # a framework failure (store, storage): report, keep serving
            result = TaskResult(
                task,
                ExecutionState.FAILED,
                error=f"{type(exc).__name__}: {exc}",
                log_path=job.log_path,
            )
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


def _resident_bytes(pid: int) -> int:
    """Resident memory of a process and its children (0 when it is gone)."""
    import psutil  # type: ignore[import-untyped]

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    job: Job | None = None
    started: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _native_threads() -> int:
    """Unnamed OS threads of this process that neither Python nor OpenBLAS started.

    OpenBLAS starts its pthreads pool when it loads and is fork-safe (it re-creates the pool
    in the child); allocator and Polars threads carry their own names and hold no state a
    step needs. What remains unnamed is an OpenMP team (or another native pool), which a
    forked child cannot use.
    """
    try:
        main = _comm("/proc/self/comm")
        os_threads = sum(
            1
            for tid in os.listdir("/proc/self/task")
            if _comm(f"/proc/self/task/{tid}/comm") == main
        )
    except OSError:
        return 0
    native = os_threads - threading.active_count()
    if native <= 0:
        return 0
    try:
        from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

        blas = sum(
            max(0, int(info.get("num_threads", 1)) - 1)
            for info in threadpool_info()
            if info.get("internal_api") == "openblas" and info.get("threading_layer") == "pthreads"
        )
    except Exception:  # threadpoolctl missing or failing: count every native thread
        blas = 0
    return max(0, native - blas)


def _comm(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read().strip()


_FORK_SAFE_THREADS = frozenset({"conveyor-agent-watchdog"})
"""Threads of Conveyor's own that hold no lock a worker needs: the warm agent's child blocks
on its client's socket and nothing else."""


def _is_fork_safe(thread: threading.Thread) -> bool:
    if thread.name in _FORK_SAFE_THREADS:
        return True
    # rich's live view redraws the console; a worker writes to fresh streams of its own
    # (see _worker_main) and never touches that console
    cls = type(thread)
    return cls.__module__ == "rich.live" and cls.__name__ == "_RefreshThread"


def _python_threads() -> list[str]:
    """Names of the live Python threads besides the caller (the main thread, usually) that
    could hold a lock when a worker is forked."""
    here = threading.current_thread()
    return [t.name for t in threading.enumerate() if t is not here and not _is_fork_safe(t)]


def start_method() -> str:
    """``fork``, unless other threads run in this process: then ``spawn``.

    A forked child inherits the parent's memory but not its threads. After a model was
    trained in this process (a notebook, a test, ``--in-process``), OpenMP keeps an idle
    thread team; a forked worker that trains again waits forever for threads that do not
    exist (LightGBM and XGBoost hang in their first parallel region). Likewise a Python thread
    that the user's module started (a poller, a metrics pusher) may hold a lock at the moment
    of the fork: in the child that lock stays held forever, and the first step that takes it
    hangs. A spawned worker is a fresh interpreter that imports the components from their
    files, as ``conveyor exec`` does; it costs an interpreter start per worker, once per run.
    """
    return "spawn" if _python_threads() or _native_threads() > 0 else "fork"


class _SpawnedProcess:
    """A fresh ``python`` worker with the multiprocessing.Process surface the pool uses."""

    def __init__(self, conn_fd: int) -> None:
        import subprocess

        env = dict(os.environ)
        paths = [p for p in sys.path if p and os.path.isdir(p)]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        code = f"from conveyor.orchestrator.workers import _spawned_main; _spawned_main({conn_fd})"
        self._popen = subprocess.Popen(
            [sys.executable, "-c", code], pass_fds=(conn_fd,), env=env, close_fds=True
        )
        self.pid: int | None = self._popen.pid
        self.sentinel = os.pidfd_open(self._popen.pid)

    def is_alive(self) -> bool:
        return self._popen.poll() is None

    def join(self, timeout: float | None = None) -> None:
        import subprocess

        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout)
        if self._popen.returncode is not None and self.sentinel >= 0:
            os.close(self.sentinel)
            self.sentinel = -1

    @property
    def exitcode(self) -> int | None:
        return self._popen.returncode


def _spawned_main(conn_fd: int) -> None:
    """Entry point of a spawned worker: read the config from the pipe, then serve."""
    from multiprocessing.connection import Connection

    conn = Connection(conn_fd)
    parent_pid = os.getppid()
    cfg: WorkerConfig = conn.recv()
    _worker_main(conn, cfg, parent_pid)


class WorkerPool:
    """``size`` pre-started worker processes; a crashed or killed worker is replaced.

    Forking after the pipeline module is imported means a worker starts with the user's code
    and Conveyor already loaded: no per-step interpreter start-up. When forking is unsafe
    (see :func:`start_method`) workers are spawned as fresh interpreters instead.
    """

    def __init__(self, size: int, config: WorkerConfig, method: str | None = None):
        self.size = max(1, size)
        self.config = config
        if method not in (None, "fork", "spawn"):
            raise ValueError(f"Worker start method must be 'fork' or 'spawn', got {method!r}")
        self.method = method
        self._ctx: ForkContext | None = None
        self._workers: list[_Worker] = []

    def _start(self) -> None:
        """Start the workers on the first job: a run served wholly from the cache starts none
        (and the start method is chosen when it matters, after the steps' modules loaded)."""
        if self._workers:
            return
        self.method = self.method or start_method()
        self._workers = [self._spawn() for _ in range(self.size)]

    def _spawn(self) -> _Worker:
        if self._ctx is None:
            import multiprocessing

            self._ctx = multiprocessing.get_context("fork")
        parent, child = self._ctx.Pipe()
        if self.method == "spawn":
            spawned = _SpawnedProcess(child.fileno())
            child.close()
            parent.send(self.config)
            return _Worker(spawned, parent)  # type: ignore[arg-type]
        proc = self._ctx.Process(
            target=_worker_main,
            args=(child, self.config, os.getpid()),
            daemon=True,
            name="conveyor-worker",
        )
        proc.start()
        child.close()
        return _Worker(proc, parent)

    @property
    def idle(self) -> int:
        """Number of workers without a job (all of them before the first job)."""
        if not self._workers:
            return self.size
        return sum(1 for w in self._workers if w.job is None)

    @property
    def busy(self) -> int:
        """Number of workers running a job."""
        return sum(1 for w in self._workers if w.job is not None)

    def submit(self, job: Job) -> None:
        """Hand ``job`` to an idle worker (call only when :attr:`idle` > 0)."""
        self._start()
        worker = next(w for w in self._workers if w.job is None)
        worker.job = job
        worker.started = time.monotonic()
        worker.conn.send(job)

    def wait(self, timeout: float | None = None) -> list[WorkerEvent]:
        """Block until something happens; return what happened."""
        waitables: list[Any] = []
        for w in self._workers:
            if w.job is not None:
                waitables += [w.conn, w.process.sentinel]
        deadline = self._next_deadline()
        if deadline is not None:
            remaining = max(0.0, deadline - time.monotonic())
            timeout = remaining if timeout is None else min(timeout, remaining)
        import multiprocessing.connection

        ready = multiprocessing.connection.wait(waitables, timeout)
        events: list[WorkerEvent] = []
        for w in list(self._workers):
            if w.job is None:
                continue
            if w.conn in ready:
                try:
                    result: TaskResult = w.conn.recv()
                except (EOFError, OSError):
                    result = None  # type: ignore[assignment]
                if result is not None:
                    events.append(WorkerEvent("result", job=w.job, result=result))
                    w.job = None
                    continue
            if w.process.sentinel in ready or not w.process.is_alive():
                w.process.join(timeout=1)
                events.append(WorkerEvent("died", job=w.job, exitcode=w.process.exitcode))
                self._replace(w)
                continue
            limit = w.job.deadline_seconds
            if limit is not None and time.monotonic() - w.started > limit:
                job = w.job
                self._kill(w)
                events.append(WorkerEvent("timeout", job=job))
                self._replace(w)
                continue
            memory = w.job.memory_limit
            if memory is not None and w.process.pid is not None:
                used = _resident_bytes(w.process.pid)
                if used > memory:
                    job = w.job
                    self._kill(w)
                    events.append(WorkerEvent("memory", job=job, peak=used))
                    self._replace(w)
        return events

    def _next_deadline(self) -> float | None:
        ends = [
            w.started + w.job.deadline_seconds
            for w in self._workers
            if w.job is not None and w.job.deadline_seconds is not None
        ]
        return min(ends) if ends else None

    def _replace(self, w: _Worker) -> None:
        w.conn.close()
        idx = self._workers.index(w)
        self._workers[idx] = self._spawn()

    def _kill(self, w: _Worker) -> None:
        """SIGKILL the worker and every process its step started (they are in its tree: the
        worker is their subreaper while the step runs)."""
        if w.process.is_alive() and w.process.pid is not None:
            kill_tree(w.process.pid)
        w.process.join(timeout=5)

    def interrupt(self, grace: float = 3.0) -> list[Job]:
        """Stop every busy worker (SIGTERM, then SIGKILL); return the jobs that were running."""
        running = [w for w in self._workers if w.job is not None]
        for w in running:
            if w.process.is_alive() and w.process.pid is not None:
                os.kill(w.process.pid, signal.SIGTERM)
        end = time.monotonic() + grace
        for w in running:
            w.process.join(timeout=max(0.0, end - time.monotonic()))
            if w.process.is_alive():
                self._kill(w)
        jobs = [w.job for w in running if w.job is not None]
        for w in running:
            w.job = None
        return jobs

    def close(self) -> None:
        """Stop all workers."""
        for w in self._workers:
            if w.process.is_alive():
                with contextlib.suppress(BrokenPipeError, OSError):
                    w.conn.send(None)
        for w in self._workers:
            w.process.join(timeout=2)
            if w.process.is_alive():
                self._kill(w)
            w.conn.close()
