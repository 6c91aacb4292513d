"""Run every benchmark script in bench/ with its default arguments, one after the other.

``make bench`` calls this. Scripts run in this order when present: ``import_time.py``,
``orchestration.py`` (side by side with the KFP and Kedro anchors; their venvs must exist, see
bench/README.md), ``control_flow.py``, ``metadata_bench.py``, ``evaluation_1m.py``,
``census_pipeline.py`` (ours only; pass the TFX venv to it by hand, see bench/README.md). Each
runs in its own process with this interpreter; its output is printed as it comes. Exits 1 if
any script failed or missed a target.

    python bench/run_all.py
    python bench/run_all.py --only import_time orchestration --skip-anchors
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = (
    "import_time",
    "orchestration",
    "control_flow",
    "flow_engine",
    "metadata_bench",
    "evaluation_1m",
    "census_pipeline",
)


def main(argv: list[str] | None = None) -> int:
    """Run the scripts; print a one-line verdict per script at the end."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=SCRIPTS, help="run only these scripts")
    parser.add_argument(
        "--skip-anchors", action="store_true", help="pass --skip-anchors to orchestration.py"
    )
    args = parser.parse_args(argv)

    results: list[tuple[str, int, float]] = []
    for name in args.only or SCRIPTS:
        script = HERE / f"{name}.py"
        if not script.exists():
            print(f"== {name}.py: not present, skipped\n", flush=True)
            continue
        cmd = [sys.executable, str(script)]
        if name == "orchestration" and args.skip_anchors:
            cmd.append("--skip-anchors")
        print(f"== {' '.join(cmd)}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, check=False).returncode
        results.append((name, rc, time.perf_counter() - t0))
        print(flush=True)

    print("== summary")
    for name, rc, seconds in results:
        print(f"  {name:<16} {'ok' if rc == 0 else f'exit {rc}':<8} ({seconds:.0f} s)")
    return 0 if all(rc == 0 for _, rc, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
