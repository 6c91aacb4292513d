"""A pipeline file of standard components, and a fully cached run of it, import no data or
model stack: Arrow, NumPy, the learning libraries and Conveyor's modules over them load only
in the bodies of the steps that run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

# what a pipeline file or a cached run never needs (a module, or a package and its modules)
_HEAVY = [
    "fsspec",
    "jinja2",
    "joblib",
    "lightgbm",
    "numpy",
    "optuna",
    "pandas",
    "polars",
    "pyarrow",
    "scipy",
    "sklearn",
    "xgboost",
    "conveyor.components.model.data",
    "conveyor.data.columns",
    "conveyor.data.csv_options",
    "conveyor.data.csv_reader",
    "conveyor.data.io",
    "conveyor.data.sketches",
    "conveyor.data.splits",
    "conveyor.data.stats",
    "conveyor.model",
]

_LOADED = """
def heavy_loaded(names):
    return sorted(m for m in sys.modules if any(m == n or m.startswith(n + ".") for n in names))
"""

_IMPORT = (
    "import json, sys\n"
    "import conveyor.components.data, conveyor.components.model, conveyor.components.importers\n"
    + _LOADED
    + "print(json.dumps(heavy_loaded(json.loads(sys.stdin.read()))))\n"
)

# `conveyor run` in this process, then what it loaded (to the file named on stdin)
_PROBE = (
    """
import json, sys
from conveyor.cli.launch import main
ask = json.loads(sys.stdin.read())
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
"""
    + _LOADED
    + """
with open(ask["out"], "w", encoding="utf-8") as fh:
    json.dump({"code": code, "loaded": heavy_loaded(ask["names"])}, fh)
"""
)


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env.update(CONVEYOR_HOME=str(folder / ".conveyor"), CONVEYOR_AGENT="off")
    return env


def test_importing_the_standard_components_imports_no_data_or_model_stack():
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT],
        input=json.dumps(_HEAVY),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_a_fully_cached_census_run_imports_no_data_or_model_stack(tmp_path):
    folder = tmp_path / "census"
    (folder / "data").mkdir(parents=True)
    shutil.copy(REPO / "examples" / "census" / "pipeline.py", folder / "pipeline.py")
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "make_tabular.py"), "--rows", "2000", "--out",
         str(folder / "data" / "census.csv")],
        check=True,
        capture_output=True,
    )  # fmt: skip
    first = subprocess.run(
        [sys.executable, "-m", "conveyor", "run", "pipeline.py", "-q"],
        cwd=folder,
        env=_env(folder),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert first.returncode == 0, first.stdout + first.stderr

    out = tmp_path / "probe.json"
    again = subprocess.run(
        [sys.executable, "-c", _PROBE, "run", "pipeline.py", "--json"],
        input=json.dumps({"names": _HEAVY, "out": str(out)}),
        cwd=folder,
        env=_env(folder),
        capture_output=True,
        text=True,
        timeout=300,
    )
    probe = json.loads(out.read_text())
    assert probe == {"code": 0, "loaded": []}, again.stderr
    run = json.loads(again.stdout)
    assert run["state"] == "COMPLETE"
    # every step comes from the cache but the baseline's resolution, which runs every time
    states = {name: task["state"] for name, task in run["tasks"].items()}
    assert states.pop("latest_blessed_model") == "COMPLETE"
    assert len(states) == 11 and set(states.values()) == {"CACHED"}
