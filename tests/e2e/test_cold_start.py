"""A plain ``conveyor run`` (no warm agent) imports only what a run on SQLite needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

_PROBE = """
import json, sys
from conveyor.cli.launch import main
prefixes = tuple(sys.stdin.read().split())
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
loaded = sorted(m for m in sys.modules if m.startswith(prefixes))
print(json.dumps({"code": code, "loaded": loaded}))
"""

# SQLAlchemy and Alembic (the store talks to sqlite3 directly; they load only to migrate an
# older database), the warm agent's client, the data and model stacks behind `conveyor data`,
# `show` and `runs compare`, and Rich (output that is not a terminal is written without it)
_NOT_NEEDED = [
    "alembic",
    "rich",
    "sqlalchemy",
    "conveyor.cli.agent",
    "conveyor.cli.compare",
    "conveyor.cli.data_validate",
    "conveyor.cli.models",
    "conveyor.cli.show",
    "conveyor.data",
    "conveyor.model",
    "conveyor.cli.serve",
    "conveyor.serve",
    "conveyor.cli.deploy",
    "conveyor.cli.smoke",
    "conveyor.deploy",
    "fastapi",
    "starlette",
    "uvicorn",
]


def _loaded(project: Path, *args: str, prefixes: list[str] = _NOT_NEEDED) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env["CONVEYOR_HOME"] = str(project / ".conveyor")
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        input=" ".join(prefixes),
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_plain_run_imports_no_postgres_agent_data_or_model_modules(project):
    first = _loaded(project, "run", "basic.py:demo", "-q")
    again = _loaded(project, "run", "basic.py:demo", "-q")  # every step cached
    assert (first, again) == ({"code": 0, "loaded": []}, {"code": 0, "loaded": []})


def test_importing_the_standard_components_does_not_import_pandas():
    # a pipeline file imports its components even when every step comes from the cache
    code = "import sys, conveyor.components.data, conveyor.components.model\n"
    done = subprocess.run(
        [sys.executable, "-c", code + "print('pandas' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.split() == ["False"], done.stderr


def test_commands_that_load_late_still_run(project):
    shown = _loaded(project, "runs", "list", "--json")
    assert shown["code"] == 0
    assert "conveyor.cli.compare" in shown["loaded"]  # `runs` brings its subcommands


# `conveyor deploy status|stop|logs` and `conveyor smoke-test` talk to processes and HTTP:
# the web stack, the model stack and the data libraries stay unloaded
_DEPLOY_NOT_NEEDED = ["conveyor.serve", "conveyor.model", "conveyor.data", "fastapi",
                      "starlette", "uvicorn", "numpy", "pyarrow", "sklearn", "httpx"]  # fmt: skip


def test_deploy_status_and_smoke_test_load_neither_the_web_nor_the_model_stack(project):
    status = _loaded(project, "deploy", "status", "--json", prefixes=_DEPLOY_NOT_NEEDED)
    assert status == {"code": 0, "loaded": []}
    smoke = _loaded(project, "smoke-test", "http://127.0.0.1:9", "--json",
                    prefixes=_DEPLOY_NOT_NEEDED)  # fmt: skip
    assert smoke == {"code": 1, "loaded": []}  # nothing listens on port 9: the check fails
