"""Time of ``import conveyor`` in a fresh interpreter, minus the interpreter's own start-up.

Runs ``python -c "import conveyor"`` and ``python -c pass`` alternately in fresh processes
(``--reps`` each, default 20), takes the median wall time of each and reports the difference;
target: under 150 ms. Then runs ``python -X importtime -c "import conveyor"`` a few times and
prints the modules with the largest cumulative import time (median over those runs), so a
regression shows where it comes from.

    python bench/import_time.py
    python bench/import_time.py --reps 50 --top 25 --module conveyor.cli.main
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

TARGET_MS = 150.0


def wall_ms(python: str, code: str) -> float:
    """Wall time of one fresh ``python -c code`` process, in milliseconds."""
    t0 = time.perf_counter()
    subprocess.run([python, "-c", code], check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - t0) * 1000


def importtime(python: str, module: str) -> dict[str, tuple[int, int, int]]:
    """``-X importtime`` of one fresh import: module -> (self us, cumulative us, depth)."""
    proc = subprocess.run(
        [python, "-X", "importtime", "-c", f"import {module}"],
        check=True,
        capture_output=True,
        text=True,
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
    parser.add_argument("--module", default="conveyor", help="what to import (default conveyor)")
    parser.add_argument("--python", default=sys.executable, help="interpreter (default this one)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    env_load = os.getloadavg()
    wall_ms(args.python, f"import {args.module}")  # warm the page cache and .pyc files
    with_import, bare = [], []
    for _ in range(args.reps):  # alternate, so load changes hit both alike
        with_import.append(wall_ms(args.python, f"import {args.module}"))
        bare.append(wall_ms(args.python, "pass"))
    med_import, med_bare = statistics.median(with_import), statistics.median(bare)
    net = med_import - med_bare

    samples: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    n_profiles = min(5, args.reps)
    for _ in range(n_profiles):
        for name, row in importtime(args.python, args.module).items():
            samples[name].append(row)
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
    print(
        f"python -c 'import {args.module}': median {med_import:.1f} ms "
        f"[{min(with_import):.1f}-{max(with_import):.1f}] over {args.reps} processes"
    )
    print(
        f"python -c pass:{' ' * (len(args.module) + 2)}median {med_bare:.1f} ms "
        f"[{min(bare):.1f}-{max(bare):.1f}]"
    )
    verdict = "PASS" if net < TARGET_MS else "FAIL"
    print(f"import {args.module} (difference): {net:.1f} ms  [{verdict}] target < {TARGET_MS:g} ms")
    print(
        f"\n-X importtime (median of {n_profiles}): {len(table)} modules, "
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
                    "module": args.module,
                    "reps": args.reps,
                    "loadavg_before": env_load,
                    "import_median_ms": med_import,
                    "pass_median_ms": med_bare,
                    "net_ms": net,
                    "target_ms": TARGET_MS,
                    "pass": net < TARGET_MS,
                    "top": [
                        {"module": n, "self_ms": s / 1000, "cumulative_ms": c / 1000}
                        for n, (s, c, _) in top
                    ],
                },
                indent=2,
            )
        )
    return 0 if net < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
