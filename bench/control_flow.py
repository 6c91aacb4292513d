"""Whole-process wall time of ``conveyor run`` with control flow, sweeps and a 1,000-way flow.

Pipelines: ``bench/pipelines/shapes.py`` (the static shapes of ``orchestration.py``) and
``bench/pipelines/control.py`` (their control-flow forms, the sweep pipeline, the 1,000-way
flow). A case is one or more whole ``conveyor`` processes, timed with ``perf_counter`` from
the first spawn to the last exit, as a user at a shell sees it:

==================  ===========================================================================
case                commands
==================  ===========================================================================
baseline            ``python -c pass`` (interpreter start-up)
fan.static          ``conveyor run shapes.py:fan32`` (source, 32 work steps, join)
fan.parallel_for    ``conveyor run control.py:fan32_pf``: ParallelFor(range(32)) + Collected
chain.20            ``conveyor run shapes.py:chain20`` (start + 19 inc)
loop.20             ``conveyor run control.py:loop20``: Loop of 20 iterations, artifact carried
loop.20.cached      ``loop.20`` again on a home filled beforehand: every iteration a cache hit
sweep               ``conveyor run control.py:sweepable --sweep C=1,2,3 --sweep d=1,2`` (6 runs)
sweep.sequential    the 6 runs one after another (``-p C=.. -p d=..``) on one home (warm cache)
sweep.cold          the 6 runs one after another, each on a new home (no shared cache)
flow.1000           ``conveyor run control.py:flow1000 --in-process``: 1,000 instances
kfp.fan             KFP's local fan-out of 32 (``--no-kfp-pip``), when ``$VENVS/kfp`` exists
==================  ===========================================================================

Every case gets a new, empty ``CONVEYOR_HOME`` per repetition (``sweep.cold``: one per
command), except ``loop.20.cached``, which reuses the home filled once before (untimed).
Set-up and checks are not timed. Cases are interleaved round-robin (the first case rotates
every repetition) after one untimed warm-up round, which also starts the warm agent. After
every run, ``conveyor runs show --json`` (untimed) checks it: state ``COMPLETE``, the number of
steps and instances in each state, the fan-in value (528, 19, 332833500), and for the sweeps
that the shared ``make_data`` step ran exactly once in ``sweep`` and ``sweep.sequential`` (the
other runs ``CACHED``) and once per run in ``sweep.cold``, and that every ``fit`` returned the
same value for the same ``C`` and ``d`` in every case. A failed check counts as a failure and
the run is left out of the statistics.

Every Conveyor case runs in each agent mode of ``--modes`` (``shared.Agents``): ``NAME`` with the
warm agent up (started untimed if it is not; a run during which Conveyor's source changed is
repeated), ``NAME.noagent`` as a plain process, ``NAME.first`` as the first command ever (no
agent yet). Time, CPU and memory count the whole process tree, the agent's side included. KFP's
fan-out runs side by side when its venv exists; otherwise its ANCHORS.md figure stands in and
the targets it decides say "indicative".

    python bench/control_flow.py                       # 3 repetitions, all three modes
    python bench/control_flow.py --reps 3 --json control_flow.json
    python bench/control_flow.py --cases fan loop --modes warm off
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _shared as shared

SHAPES = shared.SHAPES
CONTROL = shared.HERE / "pipelines" / "control.py"

# KFP 2.17.3 kfp.local fan-out of 32, packages_to_install=[] (no pip), in SHARED/bench/
# ANCHORS.md (a loaded machine): used only when KFP's venv is absent, and then indicative. KFP's
# own ParallelFor + Collected gave wrong values locally, so its figure is the static fan-out.
KFP_FAN_ANCHOR_S = 9.9
SPEEDUP_TARGET = shared.SPEEDUP_TARGET  # orchestration.py's target against KFP local
COLD_SPEEDUP_TARGET = shared.COLD_SPEEDUP_TARGET  # the same with the agent off
MODE_SUFFIX = {"warm": "", "off": ".noagent", "first": ".first"}
OVERHEAD_TARGET = 1.25  # a control-flow form at most this much slower than its static form
CACHED_TARGET_S = shared.CACHED_TARGET_S  # orchestration.py's target for a fully cached rerun
SWEEP_C = (1, 2, 3)
SWEEP_D = (1, 2)
FLOW_ITEMS = 1000
FLOW_TOTAL = sum(i * i for i in range(FLOW_ITEMS))
_TAGS = itertools.count(1)


class CheckFailed(Exception):
    """A run's result is not what the case expects."""


@dataclass
class Done:
    """What a finished case run left behind, for its check (which is not timed)."""

    output: str  # stdout and stderr of every command
    envs: list[dict[str, str]]  # per command
    cwd: Path
    tags: list[str]  # per command: its --run-id or --experiment
    notes: dict[str, float] = field(default_factory=dict)  # filled by the check


Check = Callable[[Done], None]  # raises CheckFailed


@dataclass
class Case:
    """One or more whole-process commands run one after another, timed together.

    ``{tag}`` in a command is replaced by a unique name (a run id or an experiment), so that
    the check can find the runs afterwards.
    """

    name: str
    commands: list[list[str]]
    env: dict[str, str]
    cwd: Path
    home: str = "fresh"  # "fresh": one new home per run of the case; "each": one per command;
    # "given": keep env's CONVEYOR_HOME (or none)
    check: Check | None = None
    mode: str = "warm"  # agent mode of a conveyor command (shared.Agents); "" for others
    pre: Callable[[], None] | None = None  # untimed, before each run


@dataclass
class Record(shared.Timing):
    """One timed run of a case."""

    notes: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    repeated: int = 0  # times run again because Conveyor's source changed during the run


@dataclass
class Summary(shared.Stats):
    """Statistics of one case over its successful runs."""

    notes: dict[str, float]  # median of each note
    failures: int
    repeated: int
    errors: list[str] = field(default_factory=list)


def run_case(case: Case, rep: int, scratch: Path, base: dict[str, str]) -> Record:
    """Run ``case``'s commands one after another in ``base``; their wall time, CPU and memory
    (the whole process tree's)."""
    homes: list[Path] = []
    envs: list[dict[str, str]] = []
    if case.home == "fresh":
        homes.append(Path(tempfile.mkdtemp(prefix="home-", dir=scratch)))
    for _ in case.commands:
        env = dict(base)
        if case.home == "each":
            homes.append(Path(tempfile.mkdtemp(prefix="home-", dir=scratch)))
        if homes:
            env["CONVEYOR_HOME"] = str(homes[-1])
        envs.append(env)
    stem = f"bench-{case.name.replace('.', '-')}-{next(_TAGS)}"
    tags = [f"{stem}-{i}" for i in range(len(case.commands))]
    argvs = [
        [a.replace("{tag}", tag) for a in argv]
        for argv, tag in zip(case.commands, tags, strict=True)
    ]
    if case.pre is not None:
        case.pre()
    commands = list(zip(argvs, envs, strict=True))
    rec, text = shared.run_timed(Record, case.name, rep, commands, case.cwd, scratch)
    # checks are untimed: through the warm agent, else as plain processes
    checks = envs if case.mode == "warm" else [{**e, "CONVEYOR_AGENT": "off"} for e in envs]
    done = Done(text, checks, case.cwd, tags)
    if rec.rc != 0:
        rec.error = shared.exit_error(rec.rc, text)
    elif case.check is not None:
        try:
            case.check(done)
        except CheckFailed as exc:
            rec.error = str(exc)
    rec.notes = done.notes
    for home in homes:
        shutil.rmtree(home, ignore_errors=True)
    return rec


def run_measured(case: Case, rep: int, scratch: Path, agents: shared.Agents) -> Record:
    """``run_case`` in the case's agent mode, again (up to twice) if Conveyor's source changed
    under a warm agent while it ran."""
    return agents.run(case.mode, case.env, lambda env: run_case(case, rep, scratch, env))


# --- checks -----------------------------------------------------------------------------------


class Inspector:
    """Reads runs back through the CLI (``runs show --json``, ``runs compare --json``)."""

    def __init__(self, conveyor: str) -> None:
        self.conveyor = conveyor
        self.fits: dict[tuple[float, int], float] = {}  # (C, d) -> fit's value, first seen

    def _json(self, args: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
        proc = subprocess.run(
            [self.conveyor, *args], env=env, cwd=cwd, capture_output=True, text=True, check=False
        )
        try:
            data: dict[str, Any] = json.loads(proc.stdout)
        except ValueError:
            what = " ".join(args[:2])
            tail = (proc.stdout + proc.stderr).strip()[-300:]
            raise CheckFailed(f"{what} failed: {tail}") from None
        return data

    def show(self, run_id: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
        """``runs show RUN --json``, checked to be ``COMPLETE``."""
        run = self._json(["runs", "show", run_id, "--json"], env, cwd)
        state = run.get("properties", {}).get("state")
        if state != "COMPLETE":
            raise CheckFailed(f"run {run_id} is {state}")
        return run

    def experiment_runs(self, experiment: str, env: dict[str, str], cwd: Path) -> list[str]:
        """The run ids of an experiment (a sweep), in the sweep's order."""
        runs: list[str] = self._json(
            ["runs", "compare", "--experiment", experiment, "--json"], env, cwd
        )["runs"]
        return runs

    def fit_value(self, run: dict[str, Any]) -> None:
        """Check that ``fit`` returned the same value for the same ``C`` and ``d`` as before."""
        params = run["properties"]["parameters"]
        key = (float(params["C"]), int(params["d"]))
        value = step(run, "fit")["properties"]["outputs"].get("Output")
        if not isinstance(value, float):
            raise CheckFailed(f"fit returned {value!r} for C={key[0]:g} d={key[1]}")
        first = self.fits.setdefault(key, value)
        if value != first:
            raise CheckFailed(f"fit returned {value} for C={key[0]:g} d={key[1]}, before {first}")


def step(run: dict[str, Any], task: str) -> dict[str, Any]:
    """The step (or instance) named ``task`` of a shown run."""
    for s in run["steps"]:
        if s["task"] == task:
            found: dict[str, Any] = s
            return found
    raise CheckFailed(f"run {run['run_id']} has no step {task!r}")


def task_states(run: dict[str, Any], expected: dict[str, int]) -> None:
    """The run's count of steps by state is ``expected``."""
    found = run["properties"].get("task_states")
    if found != expected:
        raise CheckFailed(f"run {run['run_id']}: steps {found}, expected {expected}")


def instances(run: dict[str, Any], task: str, count: int) -> None:
    """The run recorded ``task[0]`` ... ``task[count - 1]`` and no other instance of it."""
    found = {s["task"] for s in run["steps"] if s["task"].startswith(f"{task}[")}
    if found != {f"{task}[{i}]" for i in range(count)}:
        raise CheckFailed(f"run {run['run_id']}: {len(found)} instances of {task}, not {count}")


def artifact_n(run: dict[str, Any], task: str) -> int:
    """The ``n`` in the JSON artifact ``out`` of ``task``."""
    uri = step(run, task)["outputs"]["out"]["uri"]
    with open(uri) as fh:
        n: int = json.load(fh)["n"]
    return n


def check_fan(inspect: Inspector, parallel_for: bool) -> Check:
    """34 steps complete (32 of them ``work[i]`` instances for ParallelFor); join gave 528."""

    def check(done: Done) -> None:
        run = inspect.show(done.tags[0], done.envs[0], done.cwd)
        task_states(run, {"COMPLETE": 34})
        if parallel_for:
            instances(run, "work", 32)
        total = step(run, "join")["properties"]["outputs"].get("Output")
        if total != 528:
            raise CheckFailed(f"join returned {total}, not 528")
        done.notes["run_s"] = run["properties"]["duration_seconds"]

    return check


def check_chain(inspect: Inspector, loop: bool, cached: bool) -> Check:
    """20 steps (``count[0..19]`` for the loop), all complete or all cached; it ends at 19."""
    state = "CACHED" if cached else "COMPLETE"

    def check(done: Done) -> None:
        run = inspect.show(done.tags[0], done.envs[0], done.cwd)
        task_states(run, {state: 20})
        if loop:
            instances(run, "count", 20)
            last = artifact_n(run, "count[19]")
        else:
            last = max(artifact_n(run, s["task"]) for s in run["steps"])
        if last != 19:
            raise CheckFailed(f"run {run['run_id']} ended at {last}, not 19")
        done.notes["run_s"] = run["properties"]["duration_seconds"]

    return check


def check_sweep(inspect: Inspector, mode: str) -> Check:
    """Six complete runs, one per (C, d); ``make_data`` ran once in all (``sweep``,
    ``sequential``) or once per run (``cold``); ``fit`` values agree with every other case."""

    def check(done: Done) -> None:
        if mode == "sweep":
            env = done.envs[0]
            ids = inspect.experiment_runs(done.tags[0], env, done.cwd)
            runs = [inspect.show(run_id, env, done.cwd) for run_id in ids]
        else:
            runs = [inspect.show(t, e, done.cwd) for t, e in zip(done.tags, done.envs, strict=True)]
        params = [r["properties"]["parameters"] for r in runs]
        combos = sorted((p["C"], p["d"]) for p in params)
        if combos != [(float(c), d) for c in SWEEP_C for d in SWEEP_D]:
            raise CheckFailed(f"the runs were {combos}")
        made = [step(r, "make_data")["state"] for r in runs]
        expected = {"COMPLETE": 6} if mode == "cold" else {"COMPLETE": 1, "CACHED": 5}
        if Counter(made) != expected:
            raise CheckFailed(f"make_data was {made} in the 6 runs, expected {expected}")
        if mode == "sequential" and made[0] != "COMPLETE":
            raise CheckFailed(f"make_data was {made}: the first run should compute it")
        for run in runs:
            if step(run, "fit")["state"] != "COMPLETE":
                raise CheckFailed(f"fit was {step(run, 'fit')['state']} in {run['run_id']}")
            inspect.fit_value(run)
        make = [s for r in runs for s in r["steps"] if s["task"] == "make_data"]
        done.notes["make_data_s"] = max(s["properties"].get("duration_seconds") or 0 for s in make)

    return check


def check_flow(inspect: Inspector) -> Check:
    """1,002 steps complete: items, 1,000 ``square[i]`` instances, total = sum of squares."""

    def check(done: Done) -> None:
        run = inspect.show(done.tags[0], done.envs[0], done.cwd)
        task_states(run, {"COMPLETE": FLOW_ITEMS + 2})
        instances(run, "square", FLOW_ITEMS)
        total = step(run, "total")["properties"]["outputs"].get("Output")
        if total != FLOW_TOTAL:
            raise CheckFailed(f"total returned {total}, not {FLOW_TOTAL}")
        done.notes["run_s"] = run["properties"]["duration_seconds"]

    return check


def check_kfp(done: Done) -> None:
    """The anchor script asserts its result (528) and prints it."""
    if "RESULT fan 528" not in done.output:
        raise CheckFailed(f"no 'RESULT fan 528' line: {done.output.strip()[-300:]}")


# --- cases ------------------------------------------------------------------------------------


def build_cases(args: argparse.Namespace, scratch: Path) -> tuple[list[Case], list[Case], str]:
    """The timed cases (each conveyor case in every agent mode of ``--modes``), the untimed
    runs that fill a home first, and KFP's status (side by side, or indicative)."""
    conveyor = args.conveyor
    inspect = Inspector(conveyor)
    cwd = scratch / "cwd"
    cwd.mkdir()
    env = shared.clean_env()

    def run(target: str, *flags: str) -> list[str]:
        return [conveyor, "run", target, *flags, "--run-id", "{tag}"]

    sweepable = f"{CONTROL}:sweepable"
    one_by_one = [
        [conveyor, "run", sweepable, "-p", f"C={c}", "-p", f"d={d}", "--run-id", "{tag}"]
        for c in SWEEP_C
        for d in SWEEP_D
    ]
    sweep = [
        conveyor, "run", sweepable,
        "--sweep", "C=" + ",".join(map(str, SWEEP_C)),
        "--sweep", "d=" + ",".join(map(str, SWEEP_D)),
        "--experiment", "{tag}",
    ]  # fmt: skip
    filled = shared.clean_env({"CONVEYOR_HOME": str(scratch / "filled-home")})
    loop = run(f"{CONTROL}:loop20")
    cases = [
        Case("baseline", [[sys.executable, "-c", "pass"]], env, cwd, "given", mode=""),
        Case("fan.static", [run(f"{SHAPES}:fan32")], env, cwd, check=check_fan(inspect, False)),
        Case(
            "fan.parallel_for",
            [run(f"{CONTROL}:fan32_pf")],
            env,
            cwd,
            check=check_fan(inspect, True),
        ),
        Case(
            "chain.20",
            [run(f"{SHAPES}:chain20")],
            env,
            cwd,
            check=check_chain(inspect, loop=False, cached=False),
        ),
        Case("loop.20", [loop], env, cwd, check=check_chain(inspect, loop=True, cached=False)),
        Case(
            "loop.20.cached",
            [loop],
            filled,
            cwd,
            home="given",
            check=check_chain(inspect, loop=True, cached=True),
        ),
        Case("sweep", [sweep], env, cwd, check=check_sweep(inspect, "sweep")),
        Case("sweep.sequential", one_by_one, env, cwd, check=check_sweep(inspect, "sequential")),
        Case("sweep.cold", one_by_one, env, cwd, home="each", check=check_sweep(inspect, "cold")),
        Case(
            "flow.1000",
            [run(f"{CONTROL}:flow1000", "-p", f"n={FLOW_ITEMS}", "--in-process")],
            env,
            cwd,
            check=check_flow(inspect),
        ),
    ]
    fill = Case(
        "loop.20.fill",
        [loop],
        filled,
        cwd,
        home="given",
        check=check_chain(inspect, loop=True, cached=False),
    )
    cases = [
        variant
        for case in cases
        for variant in ([case] if not case.mode else with_modes(case, args.modes))
    ]
    kfp_py = shared.venv_python(args.venvs, "kfp", module="kfp.local")
    kfp_script = shared.anchors_dir(args) / "orchestrators" / "kfp" / "pipelines.py"
    status = shared.anchor_status("kfp", kfp_py, kfp_script)
    if args.skip_anchors:
        status = f"{shared.INDICATIVE}: --skip-anchors"
    elif kfp_py is not None and kfp_script.exists():
        kfp_dir = scratch / "kfp"
        kfp_dir.mkdir()
        cases.append(
            Case(
                "kfp.fan",
                [[str(kfp_py), str(kfp_script), "fan", "--no-kfp-pip"]],
                shared.clean_env(path_prefix=kfp_py.parent),  # as its run.sh does
                kfp_dir,
                "given",
                check=check_kfp,
                mode="",
                pre=lambda: shutil.rmtree(kfp_dir / "local_outputs", ignore_errors=True),
            )
        )
    if args.cases:
        cases = [c for c in cases if c.name == "baseline" or c.name.startswith(tuple(args.cases))]
    if status == "side by side" and not any(c.name == "kfp.fan" for c in cases):
        status = f"{shared.INDICATIVE}: kfp.fan was not run (--cases)"
    fills = [fill] if any(c.name.startswith("loop.20.cached") for c in cases) else []
    return cases, fills, status


def with_modes(case: Case, modes: list[str]) -> list[Case]:
    """``case`` once per agent mode: ``NAME`` (warm), ``NAME.noagent``, ``NAME.first``."""
    return [
        dataclasses.replace(case, name=case.name + MODE_SUFFIX[mode], mode=mode) for mode in modes
    ]


# --- report -----------------------------------------------------------------------------------


def summarize(records: list[Record], names: list[str]) -> dict[str, Summary]:
    """Median and min-max per case (failed runs are left out of the statistics)."""
    out = {}
    for name in names:
        runs = [r for r in records if r.case == name]
        if not runs:
            continue
        good = [r for r in runs if r.error is None] or runs
        keys = sorted({k for r in good for k in r.notes})
        out[name] = Summary(
            **shared.timing_stats(name, good),
            notes={
                k: round(statistics.median(r.notes[k] for r in good if k in r.notes), 4)
                for k in keys
            },
            failures=sum(r.error is not None for r in runs),
            repeated=sum(r.repeated for r in runs),
            errors=sorted({r.error for r in runs if r.error})[:3],
        )
    return out


def ratios(stats: dict[str, Summary], kfp_status: str) -> tuple[list[str], list[shared.Target]]:
    """The derived figures (lines to print) and the targets with their verdicts; KFP's are
    indicative when it was not measured side by side (``kfp_status`` says why)."""
    lines: list[str] = []
    rows: list[shared.Target] = []

    def med(name: str) -> float | None:
        return stats[name].median_s if name in stats else None

    def target(name: str, measured: str, ok: bool | None) -> None:
        rows.append(shared.Target(name, measured, ok))

    static, pf = med("fan.static"), med("fan.parallel_for")
    if static and pf:
        ratio = pf / static
        lines.append(
            f"fan: ParallelFor+Collected / static = {pf:.3f} / {static:.3f} s = {ratio:.2f}x "
            f"(control-flow overhead {1000 * (pf - static):+.0f} ms for 32 instances)"
        )
        target(
            f"fan: ParallelFor+Collected <= {OVERHEAD_TARGET:g}x the static fan-out",
            f"{ratio:.2f}x",
            ratio <= OVERHEAD_TARGET,
        )
    kfp = med("kfp.fan")
    if pf and kfp is None:
        lines.append(
            f"fan: KFP local fan-out (ANCHORS.md, another moment) / ParallelFor = "
            f"{KFP_FAN_ANCHOR_S:g} / {pf:.3f} s = {KFP_FAN_ANCHOR_S / pf:.1f}x ({kfp_status})"
        )
    anchor = kfp if kfp is not None else KFP_FAN_ANCHOR_S
    indicative = "" if kfp is not None else f"{kfp_status}; ANCHORS.md figure"
    for suffix, what, goal in (
        ("", "warm agent", SPEEDUP_TARGET),
        (".noagent", "agent off", COLD_SPEEDUP_TARGET),
        (".first", "first-ever run", None),
    ):
        ours = med(f"fan.parallel_for{suffix}")
        if ours is None:
            continue
        rows.append(
            shared.Target(
                f"fan: ParallelFor, {what}: "
                + (f">= {goal:g}x faster than KFP local fan-out" if goal else "vs KFP local"),
                f"KFP {anchor:.3f} s / ours {ours:.3f} s = {anchor / ours:.1f}x",
                None if goal is None else anchor / ours >= goal,
                indicative if goal else "",
            )
        )
    if pf:
        lines.append(
            "fan: KFP's own ParallelFor + Collected is broken locally (its join gets wrong "
            "values), so KFP's figure is its static fan-out"
        )
    chain, loop = med("chain.20"), med("loop.20")
    if chain and loop:
        ratio = loop / chain
        per_iter = 1000 * (loop - chain) / 20
        in_run = [stats[n].notes.get("run_s") for n in ("loop.20", "chain.20")]
        run_part = ""
        if in_run[0] and in_run[1]:
            run_part = (
                f"; inside the run {1000 * in_run[0] / 20:.1f} vs {1000 * in_run[1] / 20:.1f} "
                "ms per iteration/step"
            )
        lines.append(
            f"loop: Loop(20) / chain of 20 = {loop:.3f} / {chain:.3f} s = {ratio:.2f}x "
            f"({per_iter:+.1f} ms per iteration{run_part}). KFP v2 cannot express such a loop: "
            "its DSL has no sequential loop with a carried value, only dsl.ParallelFor"
        )
        target(
            f"loop: Loop of 20 <= {OVERHEAD_TARGET:g}x the chain of 20",
            f"{ratio:.2f}x",
            ratio <= OVERHEAD_TARGET,
        )
    for suffix, what in (("", "warm agent"), (".noagent", "agent off")):
        cached = med(f"loop.20.cached{suffix}")
        if cached:
            target(
                f"loop, fully cached, {what}: < {CACHED_TARGET_S:g} s whole process",
                f"{cached:.3f} s",
                cached < CACHED_TARGET_S,
            )
    sweep, seq, cold = med("sweep"), med("sweep.sequential"), med("sweep.cold")
    if sweep and seq and cold:
        one = cold / 6
        make = stats["sweep"].notes.get("make_data_s", 0.0)
        lines.append(
            f"sweep of 6: one command {sweep:.2f} s; 6 runs one after another on one home "
            f"{seq:.2f} s ({seq / sweep:.2f}x); 6 cold runs {cold:.2f} s ({cold / sweep:.2f}x). "
            f"One cold run {one:.2f} s: the sweep costs {sweep / one:.2f} of them "
            f"(shared make_data {make:.2f} s, run once)"
        )
        target("sweep: the shared step ran once (a run where it did not fails)", "yes", None)
        target(
            "sweep: one command no slower than the same 6 runs one by one on a warm home",
            f"{seq / sweep:.2f}x",
            sweep <= seq,
        )
    flow = med("flow.1000")
    if flow:
        run_s = stats["flow.1000"].notes.get("run_s")
        inside = f", {FLOW_ITEMS / run_s:.0f}/s inside the run ({run_s:.2f} s)" if run_s else ""
        lines.append(
            f"flow: {FLOW_ITEMS} ParallelFor instances --in-process in {flow:.2f} s = "
            f"{FLOW_ITEMS / flow:.0f} instances/s whole process "
            f"({1000 * flow / FLOW_ITEMS:.2f} ms each){inside}"
        )
        target("flow.1000: instances per second", f"{FLOW_ITEMS / flow:.0f}/s", None)
    return lines, rows


def print_report(
    meta: dict[str, Any], stats: dict[str, Summary], lines: list[str], rows: list[shared.Target]
) -> None:
    """The table of medians, the ratios, then one line per target."""
    shared.print_header(meta, f"; warm agent (re)started {meta['agent_starts']} times")
    print(
        f"\n{'case':<26} {'median s':>9} {'min-max s':>15} {'CPU s':>7} {'tree PSS MB':>11} "
        f"{'in run s':>9}  failures, repeated"
    )
    for s in stats.values():
        run_s = s.notes.get("run_s")
        print(
            f"{s.case:<26} {s.median_s:>9.3f} {f'{s.min_s:.3f}-{s.max_s:.3f}':>15} "
            f"{s.cpu_s:>7.2f} {s.tree_pss_mb:>11.0f} "
            f"{'' if run_s is None else f'{run_s:.3f}':>9}"
            f"  {s.failures or ''}{f', {s.repeated} repeated' if s.repeated else ''}"
        )
        for err in s.errors:
            print(f"    ! {err}")
    print()
    for line in lines:
        print(line)
    shared.print_targets(rows)


def main(argv: list[str] | None = None) -> int:
    """Run every case round-robin, print (and save) the figures; 1 if a run failed or a target
    was missed."""
    parser = shared.bench_parser(__doc__)
    parser.add_argument(
        "--cases", nargs="+", metavar="PREFIX", help="only the cases starting with these"
    )
    shared.add_setup_arguments(
        parser,
        "where the KFP anchor's venv kfp/ lives (default $VENVS or ~/venvs); KFP's "
        "fan-out runs side by side when it exists",
    )
    parser.add_argument("--skip-anchors", action="store_true", help="do not run KFP")
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=shared.AGENT_MODES,
        default=list(shared.AGENT_MODES),
        help="agent modes of each conveyor case: warm (NAME), off (NAME.noagent), first "
        "(NAME.first); default all three",
    )
    args = shared.parse_args(parser, argv)

    with shared.scratch_dir("conveyor-flow-bench-", args.keep) as scratch:
        cases, fills, kfp_status = build_cases(args, scratch)
        print(f"KFP: {kfp_status}", flush=True)
        agents = shared.Agents(args.conveyor, scratch)

        def run(case: Case, rep: int) -> Record:
            return run_measured(case, rep, scratch, agents)

        try:
            rounds = shared.run_rounds(cases, fills, run, args, scratch, show_errors=True)
        finally:
            agents.close()
        if rounds is None:
            return 1

    stats = summarize(rounds.records, [c.name for c in cases])
    lines, rows = ratios(stats, kfp_status)
    meta = {
        **shared.base_meta(args, rounds),
        "argv": sys.argv,
        "anchors": kfp_status,
        "agent_starts": agents.starts,
    }
    print_report(meta, stats, lines, rows)
    results = {"ratios": lines, "targets": [t.row() for t in rows]}
    shared.write_json(args.json, meta, stats, results, rounds.records)
    return shared.exit_status(stats, rows)


if __name__ == "__main__":
    sys.exit(main())
