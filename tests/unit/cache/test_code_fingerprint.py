"""The code closure of a component: its source, local helpers, constants; not libraries."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest

from conveyor.cache.code import code_fingerprint, is_local_file


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A throwaway project folder on sys.path; returns a loader of fresh module copies."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, source: str) -> None:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))

    def load(name: str):
        for mod in [m for m in sys.modules if m in ("steps", "helper", "deep")]:
            del sys.modules[mod]
        importlib.invalidate_caches()
        return importlib.import_module(name)

    yield write, load
    for mod in ("steps", "helper", "deep"):
        sys.modules.pop(mod, None)


STEPS = """
    import helper

    FACTOR = {factor}

    def unrelated():
        return {unrelated}

    def used(x):
        return x * FACTOR

    def step(x):
        return helper.f(used(x))
"""


def _fp(write, load, factor=2, unrelated=1, helper_body="x + 1", deep_body="0"):
    write("deep", f"def g():\n    return {deep_body}\n")
    write("helper", f"import deep\n\ndef f(x):\n    return {helper_body} + deep.g()\n")
    write("steps", STEPS.format(factor=factor, unrelated=unrelated))
    return code_fingerprint(load("steps").step)


def test_fingerprint_lists_function_helpers_constants_and_files(project):
    fp = _fp(*project)
    assert set(fp.parts) == {
        "function:steps.step",
        "function:steps.used",
        "global:steps.FACTOR",
        "file:helper.py",
        "file:deep.py",
    }


def test_fingerprint_is_stable_for_unchanged_code(project):
    assert _fp(*project).digest == _fp(*project).digest


@pytest.mark.parametrize(
    ("change", "part"),
    [
        ({"factor": 3}, "global:steps.FACTOR"),
        ({"helper_body": "x + 2"}, "file:helper.py"),
        ({"deep_body": "1"}, "file:deep.py"),
    ],
)
def test_fingerprint_changes_with_what_the_step_uses(project, change, part):
    before = _fp(*project)
    after = _fp(*project, **change)
    assert before.digest != after.digest
    assert [k for k in before.parts if before.parts[k] != after.parts.get(k)] == [part]


def test_fingerprint_ignores_code_the_step_does_not_use(project):
    assert _fp(*project, unrelated=1).digest == _fp(*project, unrelated=99).digest


def test_fingerprint_ignores_decorator_options(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    src = "from conveyor import component\n\n@component({opts})\ndef c() -> int:\n    return 1\n"
    digests = []
    for i, opts in enumerate(["retries=1", "retries=5, timeout=3"]):
        (tmp_path / f"opt{i}.py").write_text(src.format(opts=opts))
        mod = importlib.import_module(f"opt{i}")
        digests.append(code_fingerprint(mod.c).parts[f"function:opt{i}.c"])
    assert digests[0] == digests[1]


def test_library_code_is_not_local():
    import json

    assert not is_local_file(json.__file__)
    assert not is_local_file(pytest.__file__)
    assert is_local_file(__file__)
