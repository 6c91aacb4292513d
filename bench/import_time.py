"""Start-up cost of Conveyor in a fresh interpreter, minus the interpreter's own start-up.

``import conveyor`` alone loads its names lazily and does almost nothing, so the target is
measured on what a user's first lines do: ``from conveyor import Artifact, Input, Output,
component, pipeline``, define two components and a pipeline and build its IR (``.spec``, which
validates it) from a script file (target: under 150 ms). Also shown, informational: bare
``import conveyor`` and ``conveyor --help`` (the CLI's entry, with the agent off). Every
command runs in a fresh process, ``--reps`` times each, interleaved round-robin with ``python -c
pass`` (the first command rotating every round); medians are compared, and each command's output
is checked (the pipeline's task count, the help's usage line). Then ``python -X importtime`` of
the build script shows the modules with the largest cumulative import time (median of 5), so a
regression shows where it comes from. Exit status 1 if the target is missed or a check failed.

    python bench/import_time.py
    python bench/import_time.py --reps 50 --top 25
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

TARGET_MS = 150.0
BUILD = """
from conveyor import Artifact, Input, Output, component, pipeline


@component
def make(n: int, out: Output[Artifact]) -> None:
    open(out.path, "w").write(str(n))


@component
def double(x: Input[Artifact]) -> int:
    return 2 * int(open(x.path).read())


@pipeline(name="first_lines")
def first_lines(n: int = 3) -> None:
    double(x=make(n=n).outputs["out"])


print("TASKS", len(first_lines.spec.tasks))
"""


def wall_ms(argv: list[str], env: dict[str, str], expect: str) -> float:
    """Wall time of one fresh process, in milliseconds; it must print ``expect``."""
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    ms = (time.perf_counter() - t0) * 1000
    if done.returncode != 0 or expect not in done.stdout:
        raise SystemExit(f"{' '.join(argv)} failed: {(done.stdout + done.stderr)[-500:]}")
    return ms


def importtime(python: str, script: str) -> dict[str, tuple[int, int, int]]:
    """``-X importtime`` of one fresh run of ``script``: module -> (self us, cumulative us,
    depth)."""
    proc = subprocess.run(
        [python, "-X", "importtime", script], check=True, capture_output=True, text=True
    )
    rows = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip())) // 2
        row = (int(self_us), int(cum_us), depth)
        if (old := rows.get(name.strip())) is not None:
            # A submodule imported first through its package is listed twice: once inside
            # the package's import, once as the outer import that triggered it.
            row = (old[0] + row[0], max(old[1], row[1]), min(old[2], row[2]))
        rows[name.strip()] = row
    return rows


def main(argv: list[str] | None = None) -> int:
    """Measure, print, and return 1 if the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=20, help="fresh processes each (default 20)")
    parser.add_argument("--top", type=int, default=15, help="modules to list (default 15)")
    parser.add_argument("--python", default=sys.executable, help="interpreter (default this one)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env["CONVEYOR_AGENT"] = "off"
    conveyor = str(Path(args.python).with_name("conveyor"))
    with tempfile.TemporaryDirectory() as tmp:
        script = str(Path(tmp) / "first_lines.py")
        Path(script).write_text(BUILD)
        commands = {  # name -> (argv, what its output must hold)
            "pass": ([args.python, "-c", "print('ok')"], "ok"),
            "import conveyor": ([args.python, "-c", "import conveyor; print('ok')"], "ok"),
            "build a pipeline": ([args.python, script], "TASKS 2"),
            "conveyor --help": ([conveyor, "--help"], "Usage"),
        }
        # bytecode of sources changed since `make setup`, as pip writes it for an installed
        # package (with PYTHONDONTWRITEBYTECODE set, imports would compile them every run)
        compileall.compile_dir(str(Path(__file__).resolve().parent.parent / "src"), quiet=1)
        env_load = os.getloadavg()
        for argv_, expect in commands.values():  # warm the page cache and .pyc files
            wall_ms(argv_, env, expect)
        times: dict[str, list[float]] = {name: [] for name in commands}
        names = list(commands)
        for rep in range(args.reps):  # interleaved, the first command rotating
            for name in names[rep % len(names) :] + names[: rep % len(names)]:
                times[name].append(wall_ms(*commands[name][:1], env, commands[name][1]))

        samples: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        n_profiles = min(5, args.reps)
        for _ in range(n_profiles):
            for name, row in importtime(args.python, script).items():
                samples[name].append(row)
    medians = {name: statistics.median(ms) for name, ms in times.items()}
    net = {name: medians[name] - medians["pass"] for name in commands}
    table = {
        name: (
            statistics.median(r[0] for r in rows),
            statistics.median(r[1] for r in rows),
            rows[0][2],
        )
        for name, rows in samples.items()
    }
    total_self_ms = sum(t[0] for t in table.values()) / 1000
    top = sorted(table.items(), key=lambda kv: kv[1][1], reverse=True)[: args.top]

    print(f"load average before: {tuple(round(x, 2) for x in env_load)}")
    for name, ms in times.items():
        print(
            f"{name:<18} median {medians[name]:7.1f} ms [{min(ms):.1f}-{max(ms):.1f}], "
            f"minus start-up {net[name]:7.1f} ms ({args.reps} processes)"
        )
    ok = net["build a pipeline"] < TARGET_MS
    print(
        f"\ntargets:\n  [{'PASS' if ok else 'FAIL'}] import conveyor and build a pipeline: "
        f"{net['build a pipeline']:.1f} ms (target < {TARGET_MS:g} ms)\n"
        f"  [info] bare import conveyor (lazy names): {net['import conveyor']:.1f} ms\n"
        f"  [info] conveyor --help, agent off: {net['conveyor --help']:.1f} ms"
    )
    print(
        f"\n-X importtime of the build script (median of {n_profiles}): {len(table)} modules, "
        f"sum of self times {total_self_ms:.1f} ms (start-up modules included); "
        f"top {args.top} by cumulative time:"
    )
    print(f"{'cumulative ms':>14} {'self ms':>8}  module")
    for name, (self_us, cum_us, depth) in top:
        print(f"{cum_us / 1000:>14.1f} {self_us / 1000:>8.1f}  {'  ' * depth}{name}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "reps": args.reps,
                    "loadavg_before": env_load,
                    "median_ms": medians,
                    "net_ms": net,
                    "target_ms": TARGET_MS,
                    "pass": ok,
                    "top": [
                        {"module": n, "self_ms": s / 1000, "cumulative_ms": c / 1000}
                        for n, (s, c, _) in top
                    ],
                },
                indent=2,
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
