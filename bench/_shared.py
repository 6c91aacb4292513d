"""What ``orchestration.py`` and ``control_flow.py`` share: the command line, timing whole
processes, the round-robin rounds, the statistics, the report's frame and the JSON file.

``bench/`` is not a package: a script run as ``python bench/X.py`` has this folder on
``sys.path``, so it imports this module as ``from _shared import ...``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

HERE = Path(__file__).resolve().parent
SHAPES = HERE / "pipelines" / "shapes.py"
DEFAULT_ANCHORS = Path("/work/shared/bench/anchors/orchestrators")
SPEEDUP_TARGET = 10.0  # at least this much faster than KFP local
CACHED_TARGET_S = 0.5  # a fully cached rerun, whole process


# --- command line -----------------------------------------------------------------------------


def bench_parser(doc: str) -> argparse.ArgumentParser:
    """A parser described by ``doc``'s first paragraph, with ``--reps`` and ``--warmup``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="timed runs per case (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    return parser


def add_setup_arguments(parser: argparse.ArgumentParser, venvs_help: str) -> None:
    """``--json``, ``--conveyor``, ``--venvs`` (described by ``venvs_help``), ``--anchors-dir``."""
    parser.add_argument("--json", type=Path, help="write every run and the summary here")
    parser.add_argument(
        "--conveyor",
        default=str(Path(sys.executable).parent / "conveyor"),
        help="the conveyor executable (default: beside this Python)",
    )
    parser.add_argument(
        "--venvs",
        type=Path,
        default=Path(os.environ.get("VENVS", Path.home() / "venvs")),
        help=venvs_help,
    )
    parser.add_argument("--anchors-dir", type=Path, default=DEFAULT_ANCHORS)


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Add ``--keep``, parse, and find the conveyor executable on PATH if it is not beside this
    Python."""
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    if not Path(args.conveyor).exists():
        args.conveyor = shutil.which("conveyor") or parser.error("no conveyor executable")
    return args


# --- running ----------------------------------------------------------------------------------


def clean_env(
    extra: dict[str, str] | None = None, path_prefix: Path | None = None
) -> dict[str, str]:
    """The current environment without any ``CONVEYOR_*`` setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    if path_prefix is not None:
        env["PATH"] = f"{path_prefix}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


@dataclass
class Timing:
    """One timed run; each script's ``Record`` adds its own fields."""

    case: str
    rep: int
    wall_s: float
    rc: int
    maxrss_mb: float  # largest single process of any command's tree (like GNU time)
    cpu_s: float  # user + system of every waited-for tree
    load1_before: float


T = TypeVar("T", bound=Timing)


def run_timed(
    record: type[T],
    case: str,
    rep: int,
    commands: Sequence[tuple[list[str], dict[str, str]]],
    cwd: Path,
    scratch: Path,
) -> tuple[T, str]:
    """Run ``(argv, env)`` commands one after another, up to the first that fails, timed from
    the first spawn to the last exit; the ``record`` of it, and the commands' output."""
    load1 = os.getloadavg()[0]
    rc, maxrss, cpu = 0, 0.0, 0.0
    with tempfile.TemporaryFile(dir=scratch) as out:
        t0 = time.perf_counter()
        for argv, env in commands:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=out)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = code = os.waitstatus_to_exitcode(status)
            maxrss = max(maxrss, usage.ru_maxrss / 1024)
            cpu += usage.ru_utime + usage.ru_stime
            if code != 0:
                rc = code
                break
        wall = time.perf_counter() - t0
        out.seek(0)
        text = out.read().decode(errors="replace")
    timed = record(
        case=case,
        rep=rep,
        wall_s=round(wall, 4),
        rc=rc,
        maxrss_mb=round(maxrss, 1),
        cpu_s=round(cpu, 3),
        load1_before=round(load1, 2),
    )
    return timed, text


def exit_error(rc: int, output: str) -> str:
    """The error of a run whose command exited ``rc``."""
    return f"exit {rc}: {output.strip()[-400:]}"


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


def _load_averages() -> tuple[float, ...]:
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


def run_rounds(
    cases: list[C],
    fills: list[C],
    run: Callable[[C, int], R],
    args: argparse.Namespace,
    scratch: Path,
    show_errors: bool = False,
) -> Rounds[R] | None:
    """Run the untimed ``fills``, then ``args.warmup`` untimed and ``args.reps`` timed rounds
    of every case, round-robin (the first case rotates every round); None if a fill failed."""
    loadavg_before = _load_averages()
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
    return Rounds(records, loadavg_before, _load_averages())


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
    }


def git_revision() -> str:
    """The checkout's commit, with ``+dirty`` when src/ has uncommitted changes."""
    root = HERE.parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=root, capture_output=True, text=True
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


def exit_status(stats: dict[str, Any], rows: list[dict[str, Any]]) -> int:
    """1 if a run failed or a target was missed (``pass`` False; None is informational)."""
    failed = any(s.failures for s in stats.values())
    return 1 if failed or any(row["pass"] is False for row in rows) else 0
