"""What the benchmarks share: where the shared folder and the anchors' venvs are, measuring a
whole process tree (CPU and memory, the warm agent's side included), the three ways a user
meets ``conveyor`` (agent off, warm agent, first-ever run), interleaved rounds, statistics,
targets with a non-zero exit when one is missed, and the report's frame.

``bench/`` is not a package: a script run as ``python bench/X.py`` has this folder on
``sys.path``, so it imports this module as ``from _shared import ...``.

What is measured, honestly:

- wall: ``perf_counter`` from the first spawn to the last exit of a case's commands;
- CPU: user + system of the command and every descendant it waited for (``wait4``), plus what
  the warm agent's side spent while the command ran: the agent's own CPU, that of its children
  it reaped in the meantime, and that of its children (alive or not yet reaped) started during
  the command, and what every descendant seen while sampling that nobody waited for (an orphan
  still alive at the end, such as the agent a first-ever run starts) has spent so far. An
  orphan that ended between two samples unwaited is missed;
- memory: the peak of the **sum** of the proportional set sizes (PSS) of every process of the
  tree (the command, its descendants, the agent and its descendants), sampled every 20 ms from
  ``/proc/PID/smaps_rollup``: a page shared by N processes (a forked child's copy-on-write
  pages, shared libraries) counts 1/N in each, so the sum counts it once. A peak shorter than
  the sampling interval can be missed. Also the largest single resident set (the larger of
  ``wait4``'s figure and the samples), as GNU ``time`` reports.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHAPES = HERE / "pipelines" / "shapes.py"
SPEEDUP_TARGET = 10.0  # through the warm agent: at least this much faster than KFP local
COLD_SPEEDUP_TARGET = 5.0  # with the agent off: at least this much faster than KFP local
CACHED_TARGET_S = 0.5  # a fully cached rerun, whole process
AGENT_MODES = ("off", "warm", "first")
AGENT_ON = "on"  # CONVEYOR_AGENT value that asks for the warm agent
INDICATIVE = "indicative"
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


# --- where things are ------------------------------------------------------------------------


def default_shared() -> Path:
    """The shared folder: ``$CONVEYOR_SHARED``, else ``shared`` beside the repository."""
    env = os.environ.get("CONVEYOR_SHARED")
    return Path(env) if env else REPO.parent / "shared"


def default_venvs() -> Path:
    """Where the anchors' venvs live: ``$VENVS``, else ``~/venvs``."""
    return Path(os.environ.get("VENVS", Path.home() / "venvs"))


def add_location_arguments(parser: argparse.ArgumentParser, venvs_help: str = "") -> None:
    """``--shared`` (the anchors' scripts and figures) and ``--venvs`` (their venvs)."""
    parser.add_argument(
        "--shared",
        type=Path,
        default=default_shared(),
        help="the shared folder holding bench/anchors/ and bench/ANCHORS.md "
        "(default: $CONVEYOR_SHARED, else ../shared beside the repository)",
    )
    parser.add_argument(
        "--venvs",
        type=Path,
        default=default_venvs(),
        help=venvs_help or "where the anchors' venvs live (default $VENVS, else ~/venvs)",
    )


def anchors_dir(args: argparse.Namespace) -> Path:
    """The anchors' scripts: ``--anchors-dir`` when given, else ``SHARED/bench/anchors``."""
    given: Path | None = getattr(args, "anchors_dir", None)
    return given if given is not None else args.shared / "bench" / "anchors"


def venv_python(venvs: Path, *names: str, module: str = "") -> Path | None:
    """``VENVS/NAME/bin/python`` of the first of ``names`` that exists (and imports ``module``,
    when given: a venv still being built does not count); None if none does."""
    for name in names:
        python = venvs / name / "bin" / "python"
        if python.exists() and (not module or _imports(python, module)):
            return python
    return None


def _imports(python: Path, module: str) -> bool:
    probe = [str(python), "-c", f"import {module}"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(probe, capture_output=True, env=env, check=False).returncode == 0


def anchor_status(name: str, python: Path | None, script: Path | None = None) -> str:
    """``side by side``, or why the anchor's figure is only indicative."""
    if python is None:
        return f"{INDICATIVE}: no {name} venv, so no side-by-side measurement"
    if script is not None and not script.exists():
        return f"{INDICATIVE}: the anchor script {script} is missing"
    return "side by side"


# --- command line -----------------------------------------------------------------------------


def bench_parser(doc: str, reps: int = 3) -> argparse.ArgumentParser:
    """A parser described by ``doc``'s first paragraph, with ``--reps`` and ``--warmup``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument(
        "--reps", type=int, default=reps, help=f"timed runs per case (default {reps})"
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    return parser


def add_setup_arguments(parser: argparse.ArgumentParser, venvs_help: str) -> None:
    """``--json``, ``--conveyor``, ``--shared``, ``--venvs``, ``--anchors-dir``."""
    parser.add_argument("--json", type=Path, help="write every run and the summary here")
    parser.add_argument(
        "--conveyor",
        default=str(Path(sys.executable).parent / "conveyor"),
        help="the conveyor executable (default: beside this Python)",
    )
    add_location_arguments(parser, venvs_help)
    parser.add_argument(
        "--anchors-dir", type=Path, help="the anchors' scripts (default SHARED/bench/anchors)"
    )


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Add ``--keep``, parse, and find the conveyor executable on PATH if it is not beside this
    Python."""
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    if hasattr(args, "conveyor") and not Path(args.conveyor).exists():
        args.conveyor = shutil.which("conveyor") or parser.error("no conveyor executable")
    return args


def clean_env(
    extra: dict[str, str] | None = None, path_prefix: Path | None = None
) -> dict[str, str]:
    """The current environment without any ``CONVEYOR_*`` setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    if path_prefix is not None:
        env["PATH"] = f"{path_prefix}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


# --- measuring a process tree -----------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """The direct children of ``pid`` (every thread's), from ``/proc``."""
    kids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                kids += [int(x) for x in fh.read().split()]
        except OSError:
            continue
    return kids


def _tree(roots: Sequence[int]) -> set[int]:
    """``roots`` and all their descendants."""
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo += _children(pid)
    return seen


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _pss_bytes(pid: int) -> int:
    """The proportional set size: pages shared by N processes count 1/N in each (so the sum
    over a tree of forked processes counts shared pages once); the RSS if unreadable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return _rss_bytes(pid)


def _cpu_total(pid: int) -> float | None:
    """User + system of ``pid`` and of the children it reaped (a zombie still answers)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / ticks  # utime stime cutime cstime


def agent_pids(agent_dir: str | None) -> list[int]:
    """The pids of the agents whose pid files are in ``agent_dir``."""
    if not agent_dir or not os.path.isdir(agent_dir):
        return []
    pids = []
    for name in os.listdir(agent_dir):
        if name.endswith(".pid"):
            try:
                with open(os.path.join(agent_dir, name)) as fh:
                    pids.append(int(json.load(fh)["pid"]))
            except (OSError, ValueError, KeyError, TypeError):
                continue
    return [p for p in pids if os.path.exists(f"/proc/{p}")]


class _AgentSide:
    """CPU the warm agent's side spends between ``__init__`` and :meth:`spent`."""

    def __init__(self, agent_dir: str | None) -> None:
        self.agent_dir = agent_dir
        self.agents = {p: _cpu_total(p) or 0.0 for p in agent_pids(agent_dir)}
        self.kids = {a: {k: _cpu_total(k) or 0.0 for k in _children(a)} for a in self.agents}
        self.counted: set[int] = set()

    def spent(self) -> float:
        """The agents' CPU since the start (those started since count whole), minus the
        earlier children they reaped since, plus their children started since (alive or
        zombies: what they spent so far)."""
        total = 0.0
        self.counted = set(agent_pids(self.agent_dir)) | set(self.agents)
        for agent in self.counted:
            now = _cpu_total(agent)
            if now is None:
                continue
            total += now - self.agents.get(agent, 0.0)
            kids, before = _children(agent), self.kids.get(agent, {})
            total -= sum(v for k, v in before.items() if k not in kids)  # reaped since
            total += sum(_cpu_total(k) or 0.0 for k in kids if k not in before)
        return max(total, 0.0)


class _Sampler(threading.Thread):
    """Samples the resident sets of a process tree and of the agent's tree every ``interval``."""

    def __init__(self, root: int, agent_dir: str | None, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.root, self.agent_dir, self.interval = root, agent_dir, interval
        self.peak_sum = self.peak_one = 0
        self.seen: set[int] = set()  # the command's tree, as sampled
        self._done = threading.Event()

    def run(self) -> None:
        while True:
            own = _tree([self.root])
            self.seen |= own
            pids = own | _tree(agent_pids(self.agent_dir))
            self.peak_sum = max(self.peak_sum, sum(_pss_bytes(p) for p in pids))
            self.peak_one = max(self.peak_one, max(map(_rss_bytes, pids), default=0))
            if self._done.wait(self.interval):
                return

    def stop(self) -> None:
        self._done.set()
        self.join()


@dataclass
class Usage:
    """What one command (or several, one after another) cost."""

    wall_s: float
    rc: int
    cpu_s: float  # the whole tree's, the agent's side included
    client_cpu_s: float  # the command and its waited-for descendants only (wait4)
    tree_pss_mb: float  # peak of the summed PSS of the tree (sampled)
    maxrss_mb: float  # the largest single process


def measure(commands: Sequence[tuple[list[str], dict[str, str]]], cwd: Path, out: Any) -> Usage:
    """Run ``(argv, env)`` commands one after another, up to the first that fails, their output
    to the file ``out``; what they cost (see the module's docstring)."""
    rc, maxrss, cpu, client, tree = 0, 0.0, 0.0, 0.0, 0.0
    t0 = time.perf_counter()
    for argv, env in commands:
        side = _AgentSide(env.get("CONVEYOR_AGENT_DIR"))
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=out)
        sampler = _Sampler(proc.pid, env.get("CONVEYOR_AGENT_DIR"))
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        sampler.stop()
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        own = usage.ru_utime + usage.ru_stime
        client += own
        cpu += own + side.spent()
        # descendants nobody waited for (still there: the agent a first run starts, say)
        orphans = {p for p in sampler.seen - {proc.pid} if os.path.exists(f"/proc/{p}")}
        cpu += sum(_cpu_total(p) or 0.0 for p in orphans - side.counted)
        maxrss = max(maxrss, usage.ru_maxrss / 1024, sampler.peak_one / 2**20)
        tree = max(tree, sampler.peak_sum / 2**20)
        if code != 0:
            rc = code
            break
    return Usage(
        wall_s=round(time.perf_counter() - t0, 4),
        rc=rc,
        cpu_s=round(cpu, 3),
        client_cpu_s=round(client, 3),
        tree_pss_mb=round(tree, 1),
        maxrss_mb=round(maxrss, 1),
    )


@dataclass
class Timing:
    """One timed run; each script's ``Record`` adds its own fields."""

    case: str
    rep: int
    wall_s: float
    rc: int
    maxrss_mb: float  # largest single process of the tree
    cpu_s: float  # user + system of the whole tree, the agent's side included
    load1_before: float
    client_cpu_s: float  # the command and its waited-for descendants only
    tree_pss_mb: float  # peak of the tree's summed PSS (sampled)


T = TypeVar("T", bound=Timing)


def run_timed(
    record: type[T],
    case: str,
    rep: int,
    commands: Sequence[tuple[list[str], dict[str, str]]],
    cwd: Path,
    scratch: Path,
) -> tuple[T, str]:
    """:func:`measure` the commands; the ``record`` of it, and the commands' output."""
    load1 = os.getloadavg()[0]
    with tempfile.TemporaryFile(dir=scratch) as out:
        usage = measure(commands, cwd, out)
        out.seek(0)
        text = out.read().decode(errors="replace")
    timed = record(case=case, rep=rep, load1_before=round(load1, 2), **asdict(usage))
    return timed, text


def exit_error(rc: int, output: str) -> str:
    """The error of a run whose command exited ``rc``."""
    return f"exit {rc}: {output.strip()[-400:]}"


# --- the warm agent: off, warm, first-ever ----------------------------------------------------

_AGENT_PROBE = """
import json
from conveyor.cli.agent import agent_socket_path, list_agents
path = agent_socket_path()
alive = any(a["current"] and a["alive"] for a in list_agents())
print(json.dumps({"socket": path, "alive": alive}))
"""


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


class _Repeatable(Protocol):
    repeated: int


RT = TypeVar("RT", bound=_Repeatable)


class Agents:
    """The three ways a user meets ``conveyor``, as environments for a command.

    - ``off``: ``CONVEYOR_AGENT=off``, a plain process (CI, containers, agent disabled);
    - ``warm``: a warm agent of this bench (its own ``CONVEYOR_AGENT_DIR``) is up before the
      command (started untimed if it is not);
    - ``first``: the first command ever: a new, empty ``CONVEYOR_AGENT_DIR`` with the agent
      asked for, so the command runs directly and starts the agent in the background (whose
      CPU and memory until the command exits are counted); the agent is stopped afterwards.

    An agent serves one version of Conveyor's source (its socket name hashes the files), so an
    edit of ``src/conveyor`` while a bench runs makes the next warm command start a new one:
    :meth:`source_changed` lets a caller repeat such a run.
    """

    def __init__(self, conveyor: str, scratch: Path) -> None:
        self.conveyor = conveyor
        with open(conveyor, "rb") as fh:
            first = fh.readline().decode(errors="replace")
        self.python = first[2:].strip() if first.startswith("#!") else sys.executable
        self.scratch = scratch
        self.warm_dir = _private_dir(scratch / "agent-warm")
        self.starts = 0
        self._firsts = 0

    def env(self, mode: str, base: dict[str, str]) -> dict[str, str]:
        """``base`` for a command in ``mode`` (a ``first`` gets a new agent folder each call)."""
        if mode == "off":
            return {**base, "CONVEYOR_AGENT": "off"}
        if mode == "warm":
            return {**base, "CONVEYOR_AGENT": AGENT_ON, "CONVEYOR_AGENT_DIR": str(self.warm_dir)}
        if mode == "first":
            self._firsts += 1
            fresh = _private_dir(self.scratch / f"agent-first-{self._firsts}")
            return {**base, "CONVEYOR_AGENT": AGENT_ON, "CONVEYOR_AGENT_DIR": str(fresh)}
        raise ValueError(f"agent mode {mode!r}: expected one of {', '.join(AGENT_MODES)}")

    def probe(self, env: dict[str, str]) -> tuple[str, bool]:
        """The socket of the agent for the source as it is now, and whether it is up."""
        proc = subprocess.run(
            [self.python, "-c", _AGENT_PROBE], env=env, capture_output=True, text=True
        )
        try:
            found = json.loads(proc.stdout)
        except ValueError:
            return "", False
        return str(found["socket"]), bool(found["alive"])

    def ensure_warm(self, env: dict[str, str]) -> str:
        """Start the warm agent of ``env`` if it is not up (untimed); its socket."""
        socket, alive = self.probe(env)
        if alive:
            return socket
        self.starts += 1
        home = _private_dir(self.scratch / "agent-home")
        cmd = [self.conveyor, "runs", "list"]  # an agent command starts the agent
        subprocess.run(cmd, env={**env, "CONVEYOR_HOME": str(home)}, cwd=home, capture_output=True)
        deadline = time.monotonic() + 60
        while not alive and time.monotonic() < deadline:
            time.sleep(0.2)
            socket, alive = self.probe(env)
        if not alive:
            raise RuntimeError(
                f"the warm agent did not start in 60 s (CONVEYOR_AGENT={AGENT_ON}); see the "
                f"log in {env.get('CONVEYOR_AGENT_DIR')}"
            )
        return socket

    def before(self, mode: str, env: dict[str, str]) -> str:
        """Untimed, before a command: the warm agent up; its socket (or "")."""
        return self.ensure_warm(env) if mode == "warm" else ""

    def source_changed(self, mode: str, env: dict[str, str], socket: str) -> bool:
        """Whether Conveyor's source changed while a warm command ran (run it again)."""
        return mode == "warm" and self.probe(env)[0] != socket

    def after(self, mode: str, env: dict[str, str]) -> None:
        """Untimed, after a command: a ``first`` run's agent stopped and its folder removed."""
        if mode == "first":
            stop_agents(env["CONVEYOR_AGENT_DIR"])
            shutil.rmtree(env["CONVEYOR_AGENT_DIR"], ignore_errors=True)

    def run(self, mode: str, base: dict[str, str], once: Callable[[dict[str, str]], RT]) -> RT:
        """``once(env)`` in ``mode`` (no mode: ``base`` as it is), between :meth:`before` and
        :meth:`after`; again (up to twice) if Conveyor's source changed under a warm agent while
        it ran, its ``repeated`` counting the repeats."""
        for attempt in range(3):
            env = self.env(mode, base) if mode else dict(base)
            socket = self.before(mode, env)
            try:
                rec = once(env)
            finally:
                self.after(mode, env)
            rec.repeated = attempt
            if not self.source_changed(mode, env, socket):
                break
        return rec

    def close(self) -> None:
        """Stop the warm agent this bench started."""
        stop_agents(str(self.warm_dir))


def stop_agents(agent_dir: str, timeout: float = 10.0) -> None:
    """SIGTERM the agents of ``agent_dir`` (started by this bench) and wait for them to go."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = agent_pids(agent_dir)
        if not pids:
            # an agent still starting may not have written its pid file yet
            time.sleep(0.3)
            if not agent_pids(agent_dir):
                return
            continue
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        time.sleep(0.2)


# --- rounds -----------------------------------------------------------------------------------


class _Named(Protocol):
    name: str


class _Result(Protocol):
    wall_s: float
    error: str | None


C = TypeVar("C", bound=_Named)
R = TypeVar("R", bound=_Result)


@dataclass
class Rounds(Generic[R]):
    """The timed runs of every round, and the load averages around them."""

    records: list[R]
    loadavg_before: tuple[float, ...]
    loadavg_after: tuple[float, ...]


def load_averages() -> tuple[float, ...]:
    """The 1, 5 and 15-minute load averages, rounded."""
    return tuple(round(x, 2) for x in os.getloadavg())


@contextmanager
def scratch_dir(prefix: str, keep: bool) -> Iterator[Path]:
    """A new temporary directory, removed at the end unless ``keep``."""
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield scratch
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)


def compile_conveyor() -> None:
    """Write the bytecode of Conveyor's sources that changed since the last ``make setup``,
    as ``pip install`` does for every installed package (the anchors' included): otherwise,
    with ``PYTHONDONTWRITEBYTECODE`` set, every timed run would compile those files again."""
    compileall.compile_dir(str(REPO / "src" / "conveyor"), quiet=1)


def run_rounds(
    cases: list[C],
    fills: list[C],
    run: Callable[[C, int], R],
    args: argparse.Namespace,
    scratch: Path,
    show_errors: bool = True,
) -> Rounds[R] | None:
    """Run the untimed ``fills``, then ``args.warmup`` untimed and ``args.reps`` timed rounds
    of every case, round-robin (the first case rotates every round); None if a fill failed."""
    compile_conveyor()
    loadavg_before = load_averages()
    print(f"load average before: {loadavg_before}; scratch {scratch}", flush=True)
    for fill in fills:
        rec = run(fill, 0)
        print(f"  fill {fill.name}: {rec.wall_s:.2f} s {rec.error or ''}", flush=True)
        if rec.error:
            print(f"cache fill failed: {rec.error}", file=sys.stderr)
            return None
    records: list[R] = []
    for rep in range(-args.warmup, args.reps):
        shift = rep % len(cases)
        for case in cases[shift:] + cases[:shift]:
            rec = run(case, rep)
            if rep >= 0:
                records.append(rec)
            if show_errors and rec.error:
                print(f"  ! {case.name}: {rec.error}", flush=True)
        label = f"rep {rep + 1}/{args.reps}" if rep >= 0 else "warm-up"
        print(f"  {label} done, load {os.getloadavg()[0]:.2f}", flush=True)
    return Rounds(records, loadavg_before, load_averages())


# --- report -----------------------------------------------------------------------------------


@dataclass
class Stats:
    """Statistics of one case; each script's ``Summary`` adds its own fields."""

    case: str
    n: int
    median_s: float
    min_s: float
    max_s: float
    maxrss_mb: float
    cpu_s: float
    tree_pss_mb: float
    client_cpu_s: float


def timing_stats(case: str, good: Sequence[Timing]) -> dict[str, Any]:
    """The fields of :class:`Stats` over a case's ``good`` runs: median and min-max."""
    walls = [r.wall_s for r in good]
    return {
        "case": case,
        "n": len(good),
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "max_s": max(walls),
        "maxrss_mb": statistics.median(r.maxrss_mb for r in good),
        "cpu_s": statistics.median(r.cpu_s for r in good),
        "tree_pss_mb": statistics.median(r.tree_pss_mb for r in good),
        "client_cpu_s": statistics.median(r.client_cpu_s for r in good),
    }


def git_revision() -> str:
    """The checkout's commit, with ``+dirty`` when src/ has uncommitted changes."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{rev}+dirty" if dirty else rev or "unknown"


def base_meta(args: argparse.Namespace, rounds: Rounds[Any]) -> dict[str, Any]:
    """The report's first facts: when, how many rounds, the machine and its load."""
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "reps": args.reps,
        "warmup": args.warmup,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_before": rounds.loadavg_before,
        "loadavg_after": rounds.loadavg_after,
        "conveyor_git": git_revision(),
    }


def print_header(meta: dict[str, Any], more: str = "") -> None:
    """The report's first line: date, rounds, load, CPUs, commit (then ``more``)."""
    print(
        f"\n{meta['date']}  {meta['reps']} reps  load average before "
        f"{meta['loadavg_before']} after {meta['loadavg_after']}  ({meta['cpus']} CPUs, "
        f"conveyor {meta['conveyor_git']}{more})"
    )


def write_json(
    path: Path | None,
    meta: dict[str, Any],
    stats: dict[str, Any],
    results: dict[str, Any],
    records: Sequence[Any],
) -> None:
    """Write the meta, the summary, ``results`` and every run to ``path`` (if one is given)."""
    if not path:
        return
    data = {
        "meta": meta,
        "summary": {k: asdict(v) for k, v in stats.items()},
        **results,
        "runs": [asdict(r) for r in records],
    }
    path.write_text(json.dumps(data, indent=2))
    print(f"\nwrote {path}")


# --- targets ----------------------------------------------------------------------------------


@dataclass
class Target:
    """One target: what it asks, what was measured, and the verdict.

    ``ok`` None is informational; an ``indicative`` target compares with a figure not
    measured side by side (the anchor's venv is absent) and never passes or fails.
    """

    target: str
    measured: str
    ok: bool | None
    indicative: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.indicative:
            return "INDICATIVE"
        return {True: "PASS", False: "FAIL", None: "info"}[self.ok]

    def row(self) -> dict[str, Any]:
        """The JSON form (``pass`` None unless decided side by side)."""
        return {
            "target": self.target,
            "measured": self.measured,
            "pass": None if self.indicative else self.ok,
            "verdict": self.verdict,
            "indicative": self.indicative or None,
            **self.details,
        }


def print_targets(targets: Sequence[Target]) -> None:
    """One line per target with its verdict."""
    print("\ntargets:")
    for t in targets:
        why = f" ({t.indicative})" if t.indicative else ""
        print(f"  [{t.verdict}] {t.target}: {t.measured}{why}")


def exit_status(stats: dict[str, Any], rows: Sequence[dict[str, Any] | Target]) -> int:
    """1 if a run failed (a check included) or a target was missed; else 0."""
    failed = any(getattr(s, "failures", 0) for s in stats.values())
    decided = [r.row() if isinstance(r, Target) else r for r in rows]
    return 1 if failed or any(row["pass"] is False for row in decided) else 0
