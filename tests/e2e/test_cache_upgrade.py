"""Upgrading a library a step imports reruns the step, and `conveyor plan` says why."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from cli_output import as_json

pytestmark = pytest.mark.slow

PIPELINE = """
from conveyor import component, pipeline


@component
def compute() -> str:
    import conveyortoylib

    return conveyortoylib.VERSION


@pipeline(name="uses-lib")
def uses_lib():
    compute()
"""


def _install(site: Path, version: str) -> None:
    """What ``pip install conveyortoylib==VERSION`` leaves in a site folder."""
    (site / "conveyortoylib").mkdir(parents=True, exist_ok=True)
    (site / "conveyortoylib" / "__init__.py").write_text(f"VERSION = {version!r}\n")
    for old in site.glob("conveyortoylib-*.dist-info"):
        shutil.rmtree(old)
    info = site / f"conveyortoylib-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: conveyortoylib\nVersion: {version}\n\n"
    )
    (info / "RECORD").write_text(f"conveyortoylib/__init__.py,,\n{info.name}/METADATA,,\n")


def test_upgrading_an_imported_library_reruns_the_step_and_plan_names_the_versions(
    cli, project: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    _install(site, "1.0")
    (project / "uses_lib.py").write_text(textwrap.dedent(PIPELINE))
    env = {"PYTHONPATH": str(site)}

    first = as_json(cli("run", "uses_lib.py", "--json", env=env))
    again = as_json(cli("run", "uses_lib.py", "--json", env=env))
    assert first["tasks"]["compute"]["state"] == "COMPLETE"
    assert again["tasks"]["compute"]["state"] == "CACHED"

    _install(site, "2.0")
    plan = {p["task"]: p for p in as_json(cli("plan", "uses_lib.py", "--json", env=env))}
    upgraded = as_json(cli("run", "uses_lib.py", "--json", env=env))

    assert plan["compute"]["decision"] == "miss"
    assert plan["compute"]["reasons"] == ["package conveyortoylib: 1.0 -> 2.0"]
    assert upgraded["tasks"]["compute"]["state"] == "COMPLETE"
    assert upgraded["tasks"]["compute"]["outputs"]["parameters"] == {"Output": "2.0"}
