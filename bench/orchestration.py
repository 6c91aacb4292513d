"""Whole-process wall time of ``conveyor run`` side by side with KFP's and Kedro's local runners.

Shapes (as in ``SHARED/bench/ANCHORS.md``): a chain of 20 tiny steps and a fan-out of 32
parallel steps between a source and a join (``bench/pipelines/shapes.py``). Every case is one
whole process, timed with ``perf_counter`` around it, as a user at a shell sees it:

======================  ======================================================================
case                    command
======================  ======================================================================
baseline                ``python -c pass`` (interpreter start-up)
conveyor.chain          ``conveyor run shapes.py:chain20`` (worker processes), warm agent up
conveyor.fan            ``conveyor run shapes.py:fan32``, warm agent up
conveyor.*_noagent      the same with ``CONVEYOR_AGENT=off``: a plain process
conveyor.*_first        the same as the first command ever: no agent yet (it starts one)
conveyor.chain_inp      ``conveyor run shapes.py:chain20 --in-process``, warm agent up
conveyor.fan_inp        ``conveyor run shapes.py:fan32 --in-process``, warm agent up
conveyor.cached         ``conveyor run shapes.py:chain20`` again on a filled home (every step hit)
conveyor.cached_noagent the same as a plain process
conveyor.rerun_nocache  ``... chain20 --no-cache`` on that home (informational)
kfp.chain / .fan        KFP ``kfp.local.SubprocessRunner(use_venv=False)``, ``--no-kfp-pip``, cold
kfp.cached              KFP chain with ``--cache`` on a filled ``local_outputs``
kedro.chain / .fan      Kedro ``SequentialRunner`` from a plain script (in-memory data)
======================  ======================================================================

The anchors run side by side when their venvs (``$VENVS/kfp``, ``$VENVS/kedro``) exist; otherwise
their ANCHORS.md figures stand in and the targets they decide say "indicative". Time, CPU and
memory count the whole process tree, the warm agent's side included (see ``_shared.py``).
Each cold Conveyor run gets a fresh, empty ``CONVEYOR_HOME`` (SQLite metadata, artifacts on disk);
each cold KFP run starts without ``local_outputs``. Set-up and clean-up are not timed. The cases
are interleaved round-robin (the starting case rotates every repetition) so that a noisy shared
machine hurts them all alike. Every run's output is checked (state, cache hits, the result).

    python bench/orchestration.py                  # 3 repetitions, with the anchors
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

# Figures from SHARED/bench/ANCHORS.md (2026-11-28, loaded 2-core machine), seconds. Used only
# when an anchor is not run side by side (its venv is absent, or --skip-anchors): indicative.
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
_NEEDS = {  # a fill, and the cases that need it
    "conveyor.cache_fill": ("conveyor.cached", "conveyor.rerun_nocache"),
    "kfp.cache_fill": ("kfp.cached",),
}
SPEEDUP_TARGET = shared.SPEEDUP_TARGET
COLD_SPEEDUP_TARGET = shared.COLD_SPEEDUP_TARGET


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
    mode: str = ""  # for a conveyor command: "off", "warm" or "first" (see shared.Agents)


@dataclass
class Record(shared.Timing):
    """One timed run (a single process: its tree's largest process and CPU)."""

    error: str | None = None
    repeated: int = 0  # run again because Conveyor's source changed while it ran


@dataclass
class Summary(shared.Stats):
    """Statistics of one case."""

    failures: int
    repeated: int = 0
    errors: list[str] = field(default_factory=list)


def run_process(case: Case, rep: int, scratch: Path, agents: shared.Agents) -> Record:
    """Run ``case`` once as a whole process tree (again, up to twice, if Conveyor's source
    changed under a warm agent while it ran); its wall time, CPU and memory."""
    return agents.run(case.mode, case.env, lambda env: _run_once(case, rep, scratch, env))


def _run_once(case: Case, rep: int, scratch: Path, env: dict[str, str]) -> Record:
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
    elif case.check is not None:  # untimed: through the warm agent, else a plain process
        check_env = env if case.mode == "warm" else {**env, "CONVEYOR_AGENT": "off"}
        rec.error = case.check(Outcome(text, check_env, case.cwd, run_id))
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


def build_cases(
    args: argparse.Namespace, scratch: Path
) -> tuple[list[Case], list[Case], dict[str, str]]:
    """The timed cases, the untimed runs that fill the caches first, and each anchor's status
    (side by side, or why its figure is only indicative)."""
    py = sys.executable
    conveyor = args.conveyor
    cwd = scratch / "cwd"
    cwd.mkdir()
    base_env = shared.clean_env()
    cases = [Case("baseline", [py, "-c", "pass"], base_env, cwd)]
    fills: list[Case] = []

    def cv(shape: str, *flags: str) -> list[str]:
        return [conveyor, "run", f"{SHAPES}:{shape}", *flags]

    def cold(name: str, shape: str, mode: str, *flags: str) -> Case:
        check = _conveyor_check(conveyor, shape, cached=False)
        return Case(
            name, cv(shape, *flags), base_env, cwd, True, None, check, conveyor_run_id=True,
            mode=mode,
        )  # fmt: skip

    for shape, short in (("chain20", "chain"), ("fan32", "fan")):
        cases += [
            cold(f"conveyor.{short}", shape, "warm"),
            # a plain process: every run pays interpreter and import start-up
            cold(f"conveyor.{short}_noagent", shape, "off"),
            # the first command ever: no agent yet, this run starts one in the background
            cold(f"conveyor.{short}_first", shape, "first"),
            cold(f"conveyor.{short}_inp", shape, "warm", "--in-process"),
        ]
    # A filled home: a rerun where every step is a cache hit, and (informational) a rerun with
    # --no-cache, where every step runs again but the database and its schema already exist.
    home_env = shared.clean_env({"CONVEYOR_HOME": str(scratch / "filled-home")})
    chain_ok = _conveyor_check(conveyor, "chain20", cached=False)
    chain_hit = _conveyor_check(conveyor, "chain20", cached=True)

    def filled(name: str, check: Check, mode: str, *flags: str) -> Case:
        return Case(
            name, cv("chain20", *flags), home_env, cwd, check=check, conveyor_run_id=True,
            mode=mode,
        )  # fmt: skip

    fills.append(filled("conveyor.cache_fill", chain_ok, "off"))
    cases += [
        filled("conveyor.cached", chain_hit, "warm"),
        filled("conveyor.cached_noagent", chain_hit, "off"),
        filled("conveyor.rerun_nocache", chain_ok, "warm", "--no-cache"),
    ]
    anchors = shared.anchors_dir(args) / "orchestrators"
    kfp_script = anchors / "kfp" / "pipelines.py"
    kedro_script = anchors / "kedro" / "pipelines.py"
    if args.skip_anchors:
        skipped = f"{shared.INDICATIVE}: --skip-anchors"
        return cases, fills, {"kfp": skipped, "kedro": skipped}
    kfp = shared.venv_python(args.venvs, "kfp", module="kfp.local")
    kedro = shared.venv_python(args.venvs, "kedro", module="kedro.runner")
    status = {
        "kfp": shared.anchor_status("kfp", kfp, kfp_script),
        "kedro": shared.anchor_status("kedro", kedro, kedro_script),
    }
    if kfp is not None and kfp_script.exists():
        kfp_env = shared.clean_env(path_prefix=kfp.parent)  # as run.sh: tasks' python3 is KFP's
        kfp_cold = scratch / "kfp"
        kfp_warm = scratch / "kfp-cached"
        kfp_cold.mkdir()
        kfp_warm.mkdir()
        for shape in ("chain", "fan"):
            cases.append(
                Case(
                    f"kfp.{shape}",
                    [str(kfp), str(kfp_script), shape, "--no-kfp-pip"],
                    kfp_env,
                    kfp_cold,
                    pre=_rmtree(kfp_cold / "local_outputs"),
                    check=_contains(f"RESULT {shape}"),
                )
            )
        kfp_cached = [str(kfp), str(kfp_script), "chain", "--cache", "--no-kfp-pip"]
        fills.append(
            Case("kfp.cache_fill", kfp_cached, kfp_env, kfp_warm, check=_contains("RESULT"))
        )
        cases.append(Case("kfp.cached", kfp_cached, kfp_env, kfp_warm, check=_kfp_all_cached))
    if kedro is not None and kedro_script.exists():
        kedro_env = shared.clean_env(path_prefix=kedro.parent)
        for shape in ("chain", "fan"):
            cases.append(
                Case(
                    f"kedro.{shape}",
                    [str(kedro), str(kedro_script), shape],
                    kedro_env,
                    cwd,
                    check=_contains("RESULT"),
                )
            )
    return cases, fills, status


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
            repeated=sum(r.repeated for r in runs),
            errors=sorted({r.error for r in runs if r.error})[:3],
        )
    return out


def targets(stats: dict[str, Summary], status: dict[str, str]) -> list[shared.Target]:
    """Ratios and verdicts per target; an anchor not measured here gives an indicative one."""

    def anchor(name: str) -> tuple[float, str]:
        tool = name.split(".")[0]
        if name in stats:
            return stats[name].median_s, ""
        why = status.get(tool, "")
        if not why.startswith(shared.INDICATIVE):
            why = f"{shared.INDICATIVE}: {name} was not run (--cases)"
        return ANCHOR_FIGURES[name], f"{why}; ANCHORS.md figure"

    rows = []
    for shape in ("chain", "fan"):
        kfp, indicative = anchor(f"kfp.{shape}")
        for suffix, what, goal in (
            ("", "warm agent", SPEEDUP_TARGET),
            ("_noagent", "agent off", COLD_SPEEDUP_TARGET),
            ("_first", "first-ever run", None),
        ):
            name = f"conveyor.{shape}{suffix}"
            if name not in stats:
                continue
            cv = stats[name].median_s
            goal_text = f">= {goal:g}x faster than KFP local" if goal else "vs KFP local"
            rows.append(
                shared.Target(
                    f"{shape}, workers, {what}: {goal_text}",
                    f"KFP {kfp:.2f} s / conveyor {cv:.3f} s = {kfp / cv:.1f}x",
                    None if goal is None else kfp / cv >= goal,
                    indicative if goal else "",
                )
            )
    for shape in ("chain", "fan"):
        name = f"conveyor.{shape}_inp"
        if name not in stats:
            continue
        cv = stats[name].median_s
        kedro, indicative = anchor(f"kedro.{shape}")
        rows.append(
            shared.Target(
                f"{shape}, --in-process, warm agent: no slower than Kedro from a script",
                f"Kedro {kedro:.2f} s / conveyor {cv:.3f} s = {kedro / cv:.2f}x",
                cv <= kedro,
                indicative,
            )
        )
    kfp_cached, indicative = anchor("kfp.cached")
    for name, what in (("conveyor.cached", "warm agent"), ("conveyor.cached_noagent", "agent off")):
        if name not in stats:
            continue
        cached = stats[name].median_s
        rows.append(
            shared.Target(
                f"cached chain rerun, {what}: < {CACHED_TARGET_S} s whole process",
                f"{cached:.3f} s (KFP cached {kfp_cached:.2f} s"
                f"{' [' + indicative + ']' if indicative else ''}; Metaflow resume "
                f"{ANCHOR_FIGURES['metaflow.resume']:g} s in ANCHORS.md)",
                cached < CACHED_TARGET_S,
            )
        )
    return rows


def print_report(
    meta: dict[str, Any], stats: dict[str, Summary], rows: list[shared.Target]
) -> None:
    """The table of medians, then the targets."""
    shared.print_header(meta, f"; warm agent (re)started {meta['agent_starts']} times")
    base = stats["baseline"].median_s
    print(
        f"\n{'case':<24} {'median s':>9} {'min-max s':>15} {'-startup s':>10} "
        f"{'CPU s':>7} {'client CPU':>10} {'tree PSS MB':>11} {'max RSS MB':>10}  failures"
    )
    for s in stats.values():
        print(
            f"{s.case:<24} {s.median_s:>9.3f} {f'{s.min_s:.3f}-{s.max_s:.3f}':>15} "
            f"{s.median_s - base:>10.3f} {s.cpu_s:>7.2f} {s.client_cpu_s:>10.2f} "
            f"{s.tree_pss_mb:>11.0f} {s.maxrss_mb:>10.0f}  {s.failures or ''}"
            f"{f', {s.repeated} repeated' if s.repeated else ''}"
        )
        for err in s.errors:
            print(f"    ! {err}")
    shared.print_targets(rows)


def main(argv: list[str] | None = None) -> int:
    """Run every case round-robin, print (and save) the figures; 1 if a run failed or a target
    was missed."""
    parser = shared.bench_parser(__doc__)
    parser.add_argument("--skip-anchors", action="store_true", help="Conveyor only (quick check)")
    parser.add_argument(
        "--cases", nargs="+", metavar="PREFIX", help="only the cases starting with these"
    )
    shared.add_setup_arguments(
        parser, "where the anchors' venvs kfp/ and kedro/ live (default $VENVS or ~/venvs)"
    )
    args = shared.parse_args(parser, argv)

    with shared.scratch_dir("conveyor-orch-bench-", args.keep) as scratch:
        cases, fills, status = build_cases(args, scratch)
        if args.cases:
            keep = ("baseline", *args.cases)
            cases = [c for c in cases if c.name.startswith(keep)]
            fills = [f for f in fills if any(c.name.startswith(_NEEDS[f.name]) for c in cases)]
        print(f"anchors: {status}", flush=True)
        agents = shared.Agents(args.conveyor, scratch)
        try:
            rounds = shared.run_rounds(
                cases, fills, lambda case, rep: run_process(case, rep, scratch, agents), args,
                scratch,
            )  # fmt: skip
        finally:
            agents.close()
        if rounds is None:
            return 1

    stats = summarize(rounds.records, [c.name for c in cases])
    rows = targets(stats, status)
    meta = {**shared.base_meta(args, rounds), "anchors": status, "agent_starts": agents.starts}
    print_report(meta, stats, rows)
    shared.write_json(args.json, meta, stats, {"targets": [t.row() for t in rows]}, rounds.records)
    return shared.exit_status(stats, rows)


if __name__ == "__main__":
    sys.exit(main())
