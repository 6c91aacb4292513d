"""What identifies an agent's environment, and what the agent's child takes from its caller."""

from __future__ import annotations

import os

from conveyor.cli.agent_parity import import_signature, shadowed_modules


def test_import_signature_is_the_same_before_and_after_the_command_sets_up_openmp():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOMP_", "OMP_"))}
    assert import_signature(env) == import_signature({**env, "GOMP_SPINCOUNT": "1000"})


def test_import_signature_changes_with_what_is_read_at_import_time():
    env = {"PATH": "/bin"}
    base = import_signature(env)
    for name, value in {
        "PYTHONPATH": "/x",
        "PYTHONHASHSEED": "1",
        "PYTHONWARNINGS": "error",
        "OPENBLAS_NUM_THREADS": "1",
        "LANG": "C",
    }.items():
        assert import_signature({**env, name: value}) != base, name
    assert import_signature({**env, "CV_ANYTHING": "1", "TZ": "UTC"}) == base


def test_a_project_module_named_like_a_preloaded_one_is_reported(tmp_path):
    import json

    (tmp_path / "json.py").write_text("")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "namespace_only").mkdir()  # no __init__.py: never shadows
    modules = {"json": json, "pkg": json, "namespace_only": json, "os": os}
    assert shadowed_modules([str(tmp_path)], modules, []) == ["json", "pkg"]
    assert shadowed_modules([str(tmp_path)], modules, [str(tmp_path)]) == []
