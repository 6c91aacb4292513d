"""Every example in the package's docstrings runs and prints what it says, under the project's
warnings-as-errors (a file left open is a failure): the doctests are unit tests, so
``pytest tests/unit`` and ``make test`` both run them."""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil

import pytest

import conveyor

# ``__main__`` modules run their program when imported (pytest's doctest collection skips them
# too)
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(conveyor.__path__, "conveyor.")
    if not info.name.endswith(".__main__")
)


def run_doctests(module_name: str) -> tuple[int, int, str]:
    """(examples tried, failed, the report) for the docstrings of one module."""
    module = importlib.import_module(module_name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report = io.StringIO()
    for test in doctest.DocTestFinder(exclude_empty=True).find(module, module_name):
        if test.examples and test.filename is not None:
            runner.run(test, out=report.write, clear_globs=True)
    results = runner.summarize(verbose=False)
    return results.attempted, results.failed, report.getvalue()


@pytest.mark.parametrize("module_name", MODULES)
def test_the_examples_in_a_module_docstrings_run(module_name: str):
    _, failed, report = run_doctests(module_name)
    assert not failed, report


def test_the_doctests_find_the_examples_and_see_a_wrong_one():
    attempted, failed, _ = run_doctests("conveyor.storage.local")
    assert attempted >= 2 and not failed
    wrong = doctest.DocTestParser().get_doctest(">>> 1 + 1\n3\n", {}, "wrong", None, 0)
    runner = doctest.DocTestRunner()
    runner.run(wrong, out=lambda _: None)
    assert runner.summarize(verbose=False).failed == 1
