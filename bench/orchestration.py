"""Whole-process wall time of ``conveyor run`` side by side with KFP's and Kedro's local runners.

Shapes (as in /work/shared/bench/ANCHORS.md): a chain of 20 tiny steps and a fan-out of 32
parallel steps between a source and a join (``bench/pipelines/shapes.py``). Every case is one
whole process, timed with ``perf_counter`` around it, as a user at a shell sees it:

======================  ======================================================================
case                    command
======================  ======================================================================
baseline                ``python -c pass`` (interpreter start-up)
conveyor.chain          ``conveyor run shapes.py:chain20`` (worker processes, the default)
conveyor.fan            ``conveyor run shapes.py:fan32``
conveyor.chain_inp      ``conveyor run shapes.py:chain20 --in-process``
conveyor.fan_inp        ``conveyor run shapes.py:fan32 --in-process``
conveyor.cached         ``conveyor run shapes.py:chain20`` again on a filled home (every step hit)
conveyor.rerun_nocache  ``... chain20 --no-cache`` on that home (informational)
conveyor.*_noagent      chain / fan with ``CONVEYOR_AGENT=off``: no warm agent (informational)
kfp.chain / .fan        KFP ``kfp.local.SubprocessRunner(use_venv=False)``, ``--no-kfp-pip``, cold
kfp.cached              KFP chain with ``--cache`` on a filled ``local_outputs``
kedro.chain / .fan      Kedro ``SequentialRunner`` from a plain script (in-memory data)
======================  ======================================================================

Each cold Conveyor run gets a fresh, empty ``CONVEYOR_HOME`` (SQLite metadata, artifacts on disk);
each cold KFP run starts without ``local_outputs``. Set-up and clean-up are not timed. The cases
are interleaved round-robin (the starting case rotates every repetition) so that a noisy shared
machine hurts them all alike. Every run's output is checked (state, cache hits, the result).

    python bench/orchestration.py                  # 5 repetitions, with the anchors
    python bench/orchestration.py --skip-anchors   # Conveyor only, quick
    python bench/orchestration.py --reps 9 --json orchestration.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _shared as shared

SHAPES = shared.SHAPES

# Figures from /work/shared/bench/ANCHORS.md (2026-11-28, loaded 2-core machine), seconds.
# Used only when the anchors are not run side by side (--skip-anchors).
ANCHOR_FIGURES = {
    "kfp.chain": 6.1,
    "kfp.fan": 9.9,
    "kfp.cached": 2.5,
    "kedro.chain": 1.1,
    "kedro.fan": 0.95,
    "metaflow.resume": 0.9,
}
CACHED_TARGET_S = shared.CACHED_TARGET_S
_RUN_NUMBERS = itertools.count(1)
SPEEDUP_TARGET = shared.SPEEDUP_TARGET


@dataclass
class Outcome:
    """What a finished run left behind, for its check (which is not timed)."""

    output: str  # stdout and stderr
    env: dict[str, str]
    cwd: Path
    run_id: str | None


Check = Callable[[Outcome], str | None]


@dataclass
class Case:
    """One whole-process command, timed ``reps`` times."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    fresh_home: bool = False  # a new, empty CONVEYOR_HOME per run
    pre: Callable[[], None] | None = None  # untimed, before each run
    check: Check | None = None  # -> error message or None
    conveyor_run_id: bool = False  # append --run-id with a unique id (for the check)


@dataclass
class Record(shared.Timing):
    """One timed run (a single process: its tree's largest process and CPU)."""

    error: str | None = None


@dataclass
class Summary(shared.Stats):
    """Statistics of one case."""

    failures: int
    errors: list[str] = field(default_factory=list)


def run_process(case: Case, rep: int, scratch: Path) -> Record:
    """Run ``case`` once as a whole process; return its wall time, RSS and CPU."""
    env = dict(case.env)
    home: Path | None = None
    if case.fresh_home:
        home = Path(tempfile.mkdtemp(prefix="home-", dir=scratch))
        env["CONVEYOR_HOME"] = str(home)
    argv = list(case.argv)
    run_id = None
    if case.conveyor_run_id:
        run_id = f"bench-{case.name.replace('.', '-')}-{next(_RUN_NUMBERS)}"
        argv += ["--run-id", run_id]
    if case.pre is not None:
        case.pre()
    rec, text = shared.run_timed(Record, case.name, rep, [(argv, env)], case.cwd, scratch)
    if rec.rc != 0:
        rec.error = shared.exit_error(rec.rc, text)
    elif case.check is not None:
        rec.error = case.check(Outcome(text, env, case.cwd, run_id))
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)
    return rec


def _conveyor_check(conveyor: str, shape: str, cached: bool) -> Check:
    """Check a run with ``conveyor runs show --json``: complete, cache hits, the right result."""
    n_tasks = 20 if shape == "chain20" else 34
    state = "CACHED" if cached else "COMPLETE"

    def check(done: Outcome) -> str | None:
        assert done.run_id is not None
        show = subprocess.run(
            [conveyor, "runs", "show", done.run_id, "--json"],
            env=done.env,
            cwd=done.cwd,
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            run = json.loads(show.stdout)
        except ValueError:
            return f"runs show failed: {(show.stdout + show.stderr).strip()[-300:]}"
        props = run.get("properties", {})
        if props.get("state") != "COMPLETE" or props.get("task_states") != {state: n_tasks}:
            return f"state {props.get('state')}, steps {props.get('task_states')}"
        if cached:
            return None
        if shape == "fan32":
            (join,) = (s for s in run["steps"] if s["component"] == "join")
            total = join["properties"]["outputs"].get("Output")
            return None if total == 528 else f"join returned {total}, not 528"
        values = []
        for step in run["steps"]:
            for art in step["outputs"].values():
                with open(art["uri"]) as fh:
                    values.append(json.load(fh)["n"])
        return None if max(values) == 19 else f"chain ended at {max(values)}, not 19"

    return check


def _rmtree(path: Path) -> Callable[[], None]:
    return lambda: shutil.rmtree(path, ignore_errors=True)


def build_cases(args: argparse.Namespace, scratch: Path) -> tuple[list[Case], list[Case]]:
    """The timed cases, and the untimed runs that fill the caches first."""
    py = sys.executable
    conveyor = args.conveyor
    cwd = scratch / "cwd"
    cwd.mkdir()
    base_env = shared.clean_env()
    cases = [Case("baseline", [py, "-c", "pass"], base_env, cwd)]
    fills: list[Case] = []

    def cv(shape: str, *flags: str) -> list[str]:
        return [conveyor, "run", f"{SHAPES}:{shape}", *flags]

    no_agent_env = shared.clean_env({"CONVEYOR_AGENT": "off"})

    def cold(name: str, shape: str, *flags: str, env: dict[str, str] = base_env) -> Case:
        check = _conveyor_check(conveyor, shape, cached=False)
        return Case(name, cv(shape, *flags), env, cwd, True, check=check, conveyor_run_id=True)

    cases += [
        cold("conveyor.chain", "chain20"),
        cold("conveyor.fan", "fan32"),
        cold("conveyor.chain_inp", "chain20", "--in-process"),
        cold("conveyor.fan_inp", "fan32", "--in-process"),
        # the same without the warm agent: every run pays interpreter and import start-up
        cold("conveyor.chain_noagent", "chain20", env=no_agent_env),
        cold("conveyor.fan_noagent", "fan32", env=no_agent_env),
    ]
    # A filled home: a rerun where every step is a cache hit, and (informational) a rerun with
    # --no-cache, where every step runs again but the database and its schema already exist.
    home_env = shared.clean_env({"CONVEYOR_HOME": str(scratch / "filled-home")})
    chain_ok = _conveyor_check(conveyor, "chain20", cached=False)
    chain_hit = _conveyor_check(conveyor, "chain20", cached=True)

    def warm(name: str, check: Check, *flags: str) -> Case:
        return Case(name, cv("chain20", *flags), home_env, cwd, check=check, conveyor_run_id=True)

    fills.append(warm("conveyor.cache_fill", chain_ok))
    cases += [
        warm("conveyor.cached", chain_hit),
        warm("conveyor.rerun_nocache", chain_ok, "--no-cache"),
    ]
    if args.skip_anchors:
        return cases, fills

    kfp_bin = args.venvs / "kfp" / "bin"
    kfp_env = shared.clean_env(path_prefix=kfp_bin)  # as run.sh: a task's `python3` is the venv's
    kfp_script = str(args.anchors_dir / "kfp" / "pipelines.py")
    kfp_py = str(kfp_bin / "python")
    kfp_cold = scratch / "kfp"
    kfp_warm = scratch / "kfp-cached"
    kfp_cold.mkdir()
    kfp_warm.mkdir()
    kfp_ok = _contains("RESULT")
    cases += [
        Case(
            "kfp.chain",
            [kfp_py, kfp_script, "chain", "--no-kfp-pip"],
            kfp_env,
            kfp_cold,
            pre=_rmtree(kfp_cold / "local_outputs"),
            check=kfp_ok,
        ),
        Case(
            "kfp.fan",
            [kfp_py, kfp_script, "fan", "--no-kfp-pip"],
            kfp_env,
            kfp_cold,
            pre=_rmtree(kfp_cold / "local_outputs"),
            check=kfp_ok,
        ),
    ]
    kfp_cached = [kfp_py, kfp_script, "chain", "--cache", "--no-kfp-pip"]
    fills.append(Case("kfp.cache_fill", kfp_cached, kfp_env, kfp_warm, check=kfp_ok))
    cases.append(Case("kfp.cached", kfp_cached, kfp_env, kfp_warm, check=_kfp_all_cached))

    kedro_bin = args.venvs / "kedro" / "bin"
    kedro_env = shared.clean_env(path_prefix=kedro_bin)
    kedro_script = str(args.anchors_dir / "kedro" / "pipelines.py")
    kedro_py = str(kedro_bin / "python")
    cases += [
        Case(
            "kedro.chain",
            [kedro_py, kedro_script, "chain"],
            kedro_env,
            cwd,
            check=_contains("RESULT"),
        ),
        Case(
            "kedro.fan", [kedro_py, kedro_script, "fan"], kedro_env, cwd, check=_contains("RESULT")
        ),
    ]
    return cases, fills


def _contains(marker: str) -> Check:
    def check(done: Outcome) -> str | None:
        if marker in done.output:
            return None
        return f"no {marker!r} line: {done.output.strip()[-300:]}"

    return check


def _kfp_all_cached(done: Outcome) -> str | None:
    """A fully cached KFP run runs no task: it must not log an executing task."""
    text = done.output
    if "RESULT" not in text:
        return f"no RESULT line: {text.strip()[-300:]}"
    if "Executing task" in text:
        return "a task was executed (cache miss)"
    return None


def summarize(records: list[Record], names: list[str]) -> dict[str, Summary]:
    """Median and min-max per case (failed runs are left out of the statistics)."""
    out = {}
    for name in names:
        runs = [r for r in records if r.case == name]
        good = [r for r in runs if r.error is None] or runs
        out[name] = Summary(
            **shared.timing_stats(name, good),
            failures=sum(r.error is not None for r in runs),
            errors=sorted({r.error for r in runs if r.error})[:3],
        )
    return out


def targets(stats: dict[str, Summary]) -> list[dict[str, Any]]:
    """Ratios and pass/fail per target; anchors from ANCHORS.md when not measured here."""

    def med(name: str) -> tuple[float, str]:
        if name in stats:
            return stats[name].median_s, "measured"
        return ANCHOR_FIGURES[name], "ANCHORS.md, loaded machine: indicative only"

    rows = []
    for shape in ("chain", "fan"):
        cv = stats[f"conveyor.{shape}"].median_s
        kfp, src = med(f"kfp.{shape}")
        rows.append(
            {
                "target": f"{shape}, workers: >= {SPEEDUP_TARGET:g}x faster than KFP local",
                "ratio": f"KFP/conveyor = {kfp / cv:.1f}x",
                "anchor": f"{kfp:.2f} s ({src})",
                "conveyor": f"{cv:.3f} s",
                "pass": kfp / cv >= SPEEDUP_TARGET,
            }
        )
    for shape in ("chain", "fan"):
        cv = stats[f"conveyor.{shape}_inp"].median_s
        kedro, src = med(f"kedro.{shape}")
        rows.append(
            {
                "target": f"{shape}, --in-process: no slower than Kedro from a script",
                "ratio": f"Kedro/conveyor = {kedro / cv:.2f}x",
                "anchor": f"{kedro:.2f} s ({src})",
                "conveyor": f"{cv:.3f} s",
                "pass": cv <= kedro,
            }
        )
    cached = stats["conveyor.cached"].median_s
    kfp_cached, src = med("kfp.cached")
    rows.append(
        {
            "target": f"cached chain rerun: < {CACHED_TARGET_S} s whole process",
            "ratio": (
                f"KFP cached/conveyor = {kfp_cached / cached:.1f}x; "
                f"Metaflow resume (ANCHORS.md)/conveyor = "
                f"{ANCHOR_FIGURES['metaflow.resume'] / cached:.1f}x"
            ),
            "anchor": f"{kfp_cached:.2f} s ({src})",
            "conveyor": f"{cached:.3f} s",
            "pass": cached < CACHED_TARGET_S,
        }
    )
    return rows


def print_report(
    meta: dict[str, Any], stats: dict[str, Summary], rows: list[dict[str, Any]]
) -> None:
    """The table of medians, then the targets."""
    shared.print_header(meta)
    base = stats["baseline"].median_s
    print(
        f"\n{'case':<24} {'median s':>9} {'min-max s':>15} {'-startup s':>10} "
        f"{'CPU s':>7} {'max RSS MB':>10}  failures"
    )
    for s in stats.values():
        print(
            f"{s.case:<24} {s.median_s:>9.3f} {f'{s.min_s:.3f}-{s.max_s:.3f}':>15} "
            f"{s.median_s - base:>10.3f} {s.cpu_s:>7.2f} {s.maxrss_mb:>10.0f}  {s.failures or ''}"
        )
        for err in s.errors:
            print(f"    ! {err}")
    print("\ntargets:")
    for row in rows:
        verdict = "PASS" if row["pass"] else "FAIL"
        print(
            f"  [{verdict}] {row['target']}: conveyor {row['conveyor']}, "
            f"anchor {row['anchor']}; {row['ratio']}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run every case round-robin, print (and save) the figures; 1 if a run failed or a target
    was missed."""
    parser = shared.bench_parser(__doc__)
    parser.add_argument("--skip-anchors", action="store_true", help="Conveyor only (quick check)")
    shared.add_setup_arguments(
        parser, "where the anchors' venvs kfp/ and kedro/ live (default $VENVS or ~/venvs)"
    )
    args = shared.parse_args(parser, argv)

    with shared.scratch_dir("conveyor-orch-bench-", args.keep) as scratch:
        cases, fills = build_cases(args, scratch)
        rounds = shared.run_rounds(
            cases, fills, lambda case, rep: run_process(case, rep, scratch), args, scratch
        )
        if rounds is None:
            return 1

    stats = summarize(rounds.records, [c.name for c in cases])
    rows = targets(stats)
    meta = {
        **shared.base_meta(args, rounds),
        "anchors": "skipped" if args.skip_anchors else "side by side",
        "conveyor_git": shared.git_revision(),
    }
    print_report(meta, stats, rows)
    shared.write_json(args.json, meta, stats, {"targets": rows}, rounds.records)
    return shared.exit_status(stats, rows)


if __name__ == "__main__":
    sys.exit(main())
