"""The whole census pipeline, whole process, side by side with TFX's LocalDagRunner on the same
CSVs.

Ours: ``examples/census/pipeline.py`` (ExampleGen -> StatisticsGen -> SchemaGen ->
ExampleValidator -> Transform -> Trainer -> baseline -> Evaluator with 200 bootstrap
resamples -> InfraValidator -> ModelCard -> Pusher) run by ``conveyor run`` in a project.
TFX: the anchor script ``SHARED/bench/anchors/tfx/tfx_pipeline.py --trainer`` (CsvExampleGen ->
StatisticsGen -> SchemaGen -> ExampleValidator -> Trainer -> Evaluator) in the ``tfx`` venv
(``$VENVS/tfx``, or ``--tfx PYTHON``) when it exists; otherwise its ANCHORS.md figures stand in
and the targets they decide say "indicative". Same data as the anchor: ``make_tabular.py --rows
200000`` and its first rows.

Cases, each a whole process measured as a tree (``_shared.py``), interleaved round-robin:

- ``ours.cold``: a new project, a plain process (``CONVEYOR_AGENT=off``), like the anchor;
- ``ours.cold.warm``: a new project, through the warm agent (informational);
- ``tfx.cold``: a new pipeline root;
- ``ours.cached.noagent`` / ``ours.cached`` / ``ours.cached.first``: a fully cached rerun on a
  project filled once (untimed) as a plain process, through the warm agent, and as the first
  command ever (no agent yet);
- ``tfx.cached``: TFX again on a root filled once.

Checks (untimed): our runs are ``COMPLETE`` with every step ``COMPLETE`` (cold) or ``CACHED``
(reruns; but the baseline resolution, which looks the store up on every run), the trainer's
AUC and the evaluator's verdict recorded; TFX prints its RESULT line with its components timed.
Targets: cold at least 10x faster than TFX; a fully cached rerun as a plain process under 0.5 s.
Exit status 1 if a check failed or a target was missed.

    python bench/census_pipeline.py                        # 10,000 rows, 1 round
    python bench/census_pipeline.py --rows 10000 200000 --reps 3
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _shared as shared

COLD_TARGET = 10.0  # at least this many times faster than TFX, cold
CACHED_TARGET_S = shared.CACHED_TARGET_S  # a fully cached rerun as a plain process
# ANCHORS.md (loaded machine): TFX whole process, cold / cached rerun, by rows
TFX_ANCHOR_S = {10_000: (80.5, 21.1), 200_000: (231.3, 24.6)}
_IDS = itertools.count(1)
RESOLVERS = {"latest_blessed_model"}  # steps that run on every run, by design


def make_data(folder: Path, rows: int) -> Path:
    """``<folder>/c<rows>/data.csv``: the anchor's files (200k generated, fewer: its head)."""
    big = folder / "c200k.csv"
    if not big.exists():
        make = shared.HERE / "make_tabular.py"
        subprocess.run(
            [sys.executable, str(make), "--rows", "200000", "--out", str(big)],
            check=True,
            capture_output=True,
        )
    target = folder / f"c{rows}" / "data.csv"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(big, encoding="utf-8") as src, open(target, "w", encoding="utf-8") as dst:
            for i, line in enumerate(src):
                if i > rows:
                    break
                dst.write(line)
    return target


def new_project(where: Path, csv: Path) -> Path:
    """A project folder holding the census example and its data (no home yet)."""
    shutil.rmtree(where, ignore_errors=True)
    (where / "data").mkdir(parents=True)
    shutil.copy(shared.REPO / "examples" / "census" / "pipeline.py", where / "pipeline.py")
    shutil.copy(csv, where / "data" / "census.csv")
    return where


@dataclass
class Case:
    name: str
    kind: str  # "ours" or "tfx"
    mode: str = ""  # ours: the agent mode
    cold: bool = True
    project: Path | None = None  # ours, cached: the filled project


@dataclass
class Record(shared.Timing):
    rows: int = 0
    steps: dict[str, float] = field(default_factory=dict)
    error: str | None = None


class Bench:
    """Runs and checks the cases of one data size."""

    def __init__(self, args: argparse.Namespace, csv: Path, rows: int, scratch: Path) -> None:
        self.args, self.csv, self.rows, self.scratch = args, csv, rows, scratch
        self.agents = shared.Agents(args.conveyor, scratch)
        self.tfx_root = scratch / "tfx-cached-root"

    def run(self, case: Case, rep: int) -> Record:
        if case.kind == "tfx":
            return self._tfx(case, rep)
        return self._ours(case, rep)

    def _ours(self, case: Case, rep: int) -> Record:
        project = case.project or new_project(self.scratch / f"p{next(_IDS)}", self.csv)
        base = shared.clean_env({"CONVEYOR_HOME": str(project / ".conveyor")})
        env = self.agents.env(case.mode, base)
        self.agents.before(case.mode, env)
        run_id = f"bench-{next(_IDS)}"
        argv = [self.args.conveyor, "run", "pipeline.py", "--run-id", run_id]
        try:
            rec, text = shared.run_timed(Record, case.name, rep, [(argv, env)], project, project)
        finally:
            self.agents.after(case.mode, env)
        rec.rows = self.rows
        if rec.rc != 0:
            rec.error = shared.exit_error(rec.rc, text)
        else:
            rec.error = self._check(project, base, run_id, case.cold, rec)
        if case.project is None:
            shutil.rmtree(project, ignore_errors=True)
        return rec

    def _check(
        self, project: Path, env: dict[str, str], run_id: str, cold: bool, rec: Record
    ) -> str | None:
        show = subprocess.run(
            [self.args.conveyor, "runs", "show", run_id, "--json"],
            cwd=project,
            env={**env, "CONVEYOR_AGENT": "off"},
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            run = json.loads(show.stdout)
        except ValueError:
            return f"runs show failed: {(show.stdout + show.stderr).strip()[-300:]}"
        props = run.get("properties", {})
        steps = {s["task"]: s for s in run.get("steps", [])}
        wanted = "COMPLETE" if cold else "CACHED"
        # the baseline resolution looks the store up on every run: it is never a cache hit
        states = {t: s["state"] for t, s in steps.items() if t not in RESOLVERS}
        if props.get("state") != "COMPLETE" or set(states.values()) != {wanted}:
            odd = {t: s for t, s in states.items() if s != wanted}
            return f"run {props.get('state')}: steps {odd} should be {wanted}"
        for task in ("trainer", "evaluator"):
            if steps.get(task, {}).get("properties", {}).get("outputs", {}).get("Output") is None:
                return f"no {task} result recorded"
        if cold:
            rec.steps = {
                t: round(float(s.get("properties", {}).get("duration_seconds") or 0.0), 2)
                for t, s in steps.items()
            }
        return None

    def _tfx(self, case: Case, rep: int) -> Record:
        root = self.scratch / f"tfx-root-{next(_IDS)}" if case.cold else self.tfx_root
        env = shared.clean_env({"TF_CPP_MIN_LOG_LEVEL": "1", "PYTHONWARNINGS": "ignore"})
        script = shared.anchors_dir(self.args) / "tfx" / "tfx_pipeline.py"
        argv = [str(self.args.tfx), str(script), "--trainer", "--data-dir", str(self.csv.parent)]
        argv += ["--root", str(root)]
        rec, text = shared.run_timed(
            Record, case.name, rep, [(argv, env)], self.scratch, self.scratch
        )
        rec.rows = self.rows
        lines = [ln for ln in text.splitlines() if ln.startswith("RESULT ")]
        if rec.rc != 0:
            rec.error = shared.exit_error(rec.rc, text)
        elif not lines:
            rec.error = f"no RESULT line: {text.strip()[-300:]}"
        else:
            per = json.loads(lines[-1][7:]).get("per_component_s", {})
            rec.steps = per
            if case.cold and not {"Trainer", "Evaluator"} <= set(per):
                rec.error = f"TFX ran only {sorted(per)}"
        if case.cold:
            shutil.rmtree(root, ignore_errors=True)
        return rec

    def cases(self, tfx: bool) -> tuple[list[Case], list[Case]]:
        """The timed cases and the untimed fills (a filled project and a filled TFX root)."""
        filled = new_project(self.scratch / "filled", self.csv)
        cases = [Case("ours.cold", "ours", "off"), Case("ours.cold.warm", "ours", "warm")]
        for mode, suffix in (("off", ".noagent"), ("warm", ""), ("first", ".first")):
            cases.append(Case(f"ours.cached{suffix}", "ours", mode, False, filled))
        fills = [Case("ours.fill", "ours", "off", True, filled)]
        if tfx:
            cases += [Case("tfx.cold", "tfx"), Case("tfx.cached", "tfx", cold=False)]
            fills.append(Case("tfx.fill", "tfx", cold=False))
        return cases, fills


def targets(
    records: list[Record], rows: int, status: str
) -> tuple[list[shared.Target], dict[str, float]]:
    """Cold and cached verdicts for one size; the medians."""
    medians = {}
    for name in sorted({r.case for r in records}):
        good = [r.wall_s for r in records if r.case == name and r.error is None]
        if good:
            medians[name] = statistics.median(good)
    anchor = TFX_ANCHOR_S.get(rows)
    out = []
    cold = medians.get("ours.cold")
    tfx_cold = medians.get("tfx.cold")
    indicative = "" if tfx_cold is not None else f"{status}; ANCHORS.md figure"
    if tfx_cold is None and anchor is not None:
        tfx_cold = anchor[0]
    if cold is not None and tfx_cold is not None:
        out.append(
            shared.Target(
                f"{rows:,} rows, cold, agent off: >= {COLD_TARGET:g}x faster than TFX",
                f"TFX {tfx_cold:.1f} s / ours {cold:.1f} s = {tfx_cold / cold:.1f}x",
                tfx_cold / cold >= COLD_TARGET,
                indicative,
            )
        )
    for name, what, decides in (
        ("ours.cached.noagent", "plain process", True),
        ("ours.cached", "warm agent", False),
        ("ours.cached.first", "first-ever run", False),
    ):
        if name in medians:
            out.append(
                shared.Target(
                    f"{rows:,} rows, fully cached rerun, {what}: < {CACHED_TARGET_S:g} s",
                    f"{medians[name]:.3f} s",
                    medians[name] < CACHED_TARGET_S if decides else None,
                )
            )
    return out, medians


def main(argv: list[str] | None = None) -> int:
    parser = shared.bench_parser(__doc__, reps=1)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000])
    parser.add_argument("--tfx", type=Path, help="python of a TFX 1.16 venv (default $VENVS/tfx)")
    parser.add_argument("--skip-tfx", action="store_true", help="ours only")
    parser.add_argument("--data-dir", type=Path, help="where the CSVs are made (default scratch)")
    shared.add_setup_arguments(parser, "where the tfx venv lives")
    parser.set_defaults(warmup=0)
    args = shared.parse_args(parser, argv)
    script = shared.anchors_dir(args) / "tfx" / "tfx_pipeline.py"
    if args.tfx is None and not args.skip_tfx:
        args.tfx = shared.venv_python(args.venvs, "tfx", module="tfx")
    status = shared.anchor_status("tfx", args.tfx, script)
    if args.skip_tfx:
        status = f"{shared.INDICATIVE}: --skip-tfx"
    tfx = not args.skip_tfx and args.tfx is not None and script.exists()
    print(f"TFX: {status}", flush=True)

    all_rows: list[shared.Target] = []
    failures = 0
    summary: dict[str, Any] = {}
    records: list[Record] = []
    with shared.scratch_dir("conveyor-census-bench-", args.keep) as scratch:
        data = args.data_dir or scratch / "data"
        data.mkdir(parents=True, exist_ok=True)
        for rows in args.rows:
            csv = make_data(data, rows)
            bench = Bench(args, csv, rows, scratch / f"r{rows}")
            cases, fills = bench.cases(tfx)
            try:
                rounds = shared.run_rounds(cases, fills, bench.run, args, bench.scratch)
            finally:
                bench.agents.close()
            if rounds is None:
                return 1
            rows_targets, medians = targets(rounds.records, rows, status)
            all_rows += rows_targets
            failures += sum(r.error is not None for r in rounds.records)
            summary[str(rows)] = {"medians": medians, "load": shared.load_averages()}
            records += rounds.records
            print(f"\n{rows:,} rows, load average {shared.load_averages()}:")
            for r in rounds.records:
                print(
                    f"  {r.case:<22} {r.wall_s:>8.2f} s  CPU {r.cpu_s:>7.2f} s  tree PSS "
                    f"{r.tree_pss_mb:>6.0f} MB  {r.error or ''}"
                )
            cold = [r for r in rounds.records if r.case in ("ours.cold", "tfx.cold") and r.steps]
            for r in cold[:2]:
                print(f"  {r.case} per step: {r.steps}")
    shared.print_targets(all_rows)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "tfx": status,
                    "summary": summary,
                    "targets": [t.row() for t in all_rows],
                    "runs": [r.__dict__ for r in records],
                },
                indent=2,
            )
        )
    return shared.exit_status({"all": argparse.Namespace(failures=failures)}, all_rows)


if __name__ == "__main__":
    sys.exit(main())
