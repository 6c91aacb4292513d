"""Fixtures for CLI scenarios run as real subprocesses."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

PIPELINES = Path(__file__).resolve().parents[1] / "integration" / "pipelines"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the test pipelines in a fresh folder (so tests may edit them)."""
    dest = tmp_path / "project"
    shutil.copytree(PIPELINES, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.fixture
def cli(project: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m conveyor ARGS`` in the project with its own CONVEYOR_HOME."""

    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        full = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("CONVEYOR_") or k.startswith("CONVEYOR_AGENT")
        }
        full["CONVEYOR_HOME"] = str(project / ".conveyor")
        full["COLUMNS"] = "200"
        full.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "conveyor", *args],
            cwd=cwd or project,
            env=full,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run
