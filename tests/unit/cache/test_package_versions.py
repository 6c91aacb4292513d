"""The installed versions of the libraries a step's code imports are part of its cache key."""

from __future__ import annotations

import importlib.metadata
import shutil
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from conveyor._internal.version import VERSION
from conveyor.cache.code import code_fingerprint
from conveyor.cache.keys import CacheKey, explain_change
from conveyor.cache.packages import distribution_versions


def _uses_libraries() -> object:
    import yaml

    return np.zeros(1), LogisticRegression, yaml


def _uses_stdlib_only() -> object:
    import json

    return json.dumps({})


def test_fingerprint_names_the_libraries_used_as_globals_and_imported_in_the_body() -> None:
    modules = code_fingerprint(_uses_libraries).modules

    assert {"numpy", "sklearn", "yaml"} <= set(modules)


def test_versions_are_those_importlib_metadata_reports_for_the_installed_distributions() -> None:
    versions = distribution_versions(code_fingerprint(_uses_libraries).modules)

    for dist in ("numpy", "scikit-learn", "PyYAML"):
        assert versions[dist] == importlib.metadata.version(dist)
    assert versions["conveyor-ml"] == VERSION


def test_standard_library_and_project_code_add_only_conveyors_version() -> None:
    modules = code_fingerprint(_uses_stdlib_only).modules

    assert "json" in modules
    assert distribution_versions([*modules, "helpers_of_the_project"]) == {"conveyor-ml": VERSION}


def _install(site: Path, name: str, version: str) -> None:
    """A distribution as pip lays it out: the package and its .dist-info folder."""
    package = site / name
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text(f"VERSION = {version!r}\n")
    for old in site.glob(f"{name}-*.dist-info"):
        shutil.rmtree(old)
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n")
    (info / "RECORD").write_text(
        f"{name}/__init__.py,,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n"
    )


def test_an_upgrade_changes_the_key_in_the_same_process_and_is_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    _install(site, "conveyortoylib", "1.0")
    monkeypatch.syspath_prepend(str(site))
    source = tmp_path / "steps.py"
    source.write_text(
        textwrap.dedent(
            """
            def step():
                import conveyortoylib
                return conveyortoylib.VERSION
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import steps  # type: ignore[import-not-found]

    modules = code_fingerprint(steps.step).modules
    before = CacheKey("step", {}, {}, {}, versions=distribution_versions(modules))
    assert importlib.metadata.version("conveyortoylib") == "1.0"

    _install(site, "conveyortoylib", "2.0")
    after = CacheKey("step", {}, {}, {}, versions=distribution_versions(modules))

    assert importlib.metadata.version("conveyortoylib") == "2.0"
    assert before.versions["conveyortoylib"] == "1.0"
    assert after.versions["conveyortoylib"] == "2.0"
    assert before.digest != after.digest
    assert explain_change(before, after) == ["package conveyortoylib: 1.0 -> 2.0"]
    sys.modules.pop("steps", None)


def test_explain_names_a_package_that_is_new_or_gone() -> None:
    before = CacheKey("t", {}, {}, {}, versions={"scikit-learn": "1.5.2", "conveyor-ml": "0.1"})
    after = CacheKey("t", {}, {}, {}, versions={"scikit-learn": "1.6.1", "numpy": "2.0"})

    assert explain_change(before, after) == [
        "package conveyor-ml: 0.1 -> <none>",
        "package numpy: <none> -> 2.0",
        "package scikit-learn: 1.5.2 -> 1.6.1",
    ]


def test_a_key_of_the_older_format_is_explained_as_a_format_change() -> None:
    old = CacheKey.from_dict({"v": 1, "component": "t", "code": {}, "parameters": {}})
    new = CacheKey("t", {}, {}, {}, versions={"conveyor-ml": VERSION})

    assert old.digest != new.digest
    assert explain_change(old, new) == [
        "cache key format changed (v1 -> v2): Conveyor was upgraded"
    ]


def test_a_standard_component_counts_the_libraries_conveyor_computes_with() -> None:
    from conveyor.components.model.trainer import trainer

    versions = distribution_versions(code_fingerprint(trainer).modules)

    for dist in ("scikit-learn", "lightgbm", "numpy", "pyarrow"):
        assert versions[dist] == importlib.metadata.version(dist)
    assert versions["conveyor-ml"] == VERSION


def test_a_component_that_builds_estimators_by_name_counts_their_libraries() -> None:
    # the census tuner searches LightGBM: its estimators are made from preset names
    from conveyor.components.model.tuner import tuner

    versions = distribution_versions(code_fingerprint(tuner).modules)

    for dist in ("lightgbm", "optuna", "scikit-learn", "numpy", "pyarrow"):
        assert versions[dist] == importlib.metadata.version(dist)


def test_project_code_calling_conveyors_library_code_counts_the_libraries_behind_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conveyor_steps_lib.py").write_text(
        textwrap.dedent(
            """
            from conveyor.data.io import read_table

            def in_body(y, p):
                from conveyor.model.metrics import evaluate

                return evaluate("classification", y, p, None)

            def at_module_level(path):
                return read_table(path)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import conveyor_steps_lib as steps  # type: ignore[import-not-found]

    body = distribution_versions(code_fingerprint(steps.in_body).modules)
    module = distribution_versions(code_fingerprint(steps.at_module_level).modules)

    # scikit-learn is imported in the body of conveyor.model.metrics.evaluate
    assert body["scikit-learn"] == importlib.metadata.version("scikit-learn")
    assert module["pyarrow"] == importlib.metadata.version("pyarrow")
    sys.modules.pop("conveyor_steps_lib", None)
