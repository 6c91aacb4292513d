"""The benchmarks' shared rules: no machine paths, the shared folder found relative to the
repository, targets that can fail, anchors not measured side by side never deciding a target."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"


def test_bench_files_name_no_path_of_this_machine():
    # the folders of the machine the tests run on (the repository's parent, the home folder),
    # and the usual homes and work roots of any machine
    machine = sorted({f"{REPO.parent}/", f"{Path.home()}/"} - {"/"})
    pattern = re.compile("|".join([*map(re.escape, machine), r"/(?:home/\w+|root|work)/"]))
    offenders = [
        f"{path.relative_to(REPO)}:{n}: {line.strip()}"
        for path in sorted([*BENCH.rglob("*.py"), *BENCH.rglob("*.md")])
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_shared_folder_is_beside_the_repository_unless_overridden(
    load_bench, monkeypatch, tmp_path
):
    shared = load_bench("_shared")
    monkeypatch.delenv("CONVEYOR_SHARED", raising=False)
    assert shared.default_shared() == REPO.parent / "shared"
    monkeypatch.setenv("CONVEYOR_SHARED", str(tmp_path))
    assert shared.default_shared() == tmp_path
    parser = shared.bench_parser("doc")
    shared.add_setup_arguments(parser, "venvs")
    args = parser.parse_args(["--shared", str(tmp_path / "elsewhere")])
    assert shared.anchors_dir(args) == tmp_path / "elsewhere" / "bench" / "anchors"


def test_an_absent_venv_makes_the_anchor_indicative(load_bench, tmp_path):
    shared = load_bench("_shared")
    assert shared.venv_python(tmp_path, "kfp") is None
    assert shared.anchor_status("kfp", None).startswith("indicative")
    python = tmp_path / "kfp" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    assert shared.venv_python(tmp_path, "kfp") == python
    # a venv still being built (the module does not import yet) does not count
    assert shared.venv_python(tmp_path, "kfp", module="no_such_module_here") is None


def test_a_missed_target_fails_the_exit_and_an_indicative_one_decides_nothing(load_bench):
    shared = load_bench("_shared")
    met = shared.Target("fast", "1 s", True)
    missed = shared.Target("faster", "2 s", False)
    indicative = shared.Target("vs an absent anchor", "0.1x", False, indicative="no venv")
    assert indicative.verdict == "INDICATIVE" and indicative.row()["pass"] is None
    assert shared.exit_status({}, [met, indicative]) == 0
    assert shared.exit_status({}, [met, missed]) == 1


def _summary(module: ModuleType, name: str, median: float) -> object:
    return module.Summary(
        case=name, n=3, median_s=median, min_s=median, max_s=median, maxrss_mb=50.0,
        cpu_s=0.1, tree_pss_mb=60.0, client_cpu_s=0.05, notes={}, failures=0, repeated=0,
    )  # fmt: skip


def test_control_flow_without_kfp_decides_no_kfp_target(load_bench):
    control_flow = load_bench("control_flow")
    stats = {
        name: _summary(control_flow, name, median)
        for name, median in (
            ("fan.static", 0.20), ("fan.parallel_for", 0.21), ("fan.parallel_for.noagent", 0.5),
        )
    }  # fmt: skip
    _, rows = control_flow.ratios(stats, "indicative: no kfp venv")
    kfp_rows = [r for r in rows if "KFP" in r.target]
    assert kfp_rows and all(r.row()["pass"] is None for r in kfp_rows)
    assert all("indicative" in r.indicative for r in kfp_rows)
    # measured side by side, the same figures decide
    stats["kfp.fan"] = _summary(control_flow, "kfp.fan", 1.0)
    _, rows = control_flow.ratios(stats, "side by side")
    decided = {r.target: r.row()["pass"] for r in rows if "KFP" in r.target and r.ok is not None}
    assert list(decided.values()) == [False, False]  # 1.0 / 0.21 < 10x, 1.0 / 0.5 < 5x


@pytest.mark.parametrize("sync", ["FULL", "NORMAL"])
def test_metadata_bench_side_uses_the_durability_it_compares(load_bench, tmp_path, sync):
    metadata_bench = load_bench("metadata_bench")
    from conveyor.metadata import connect

    store = connect(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        metadata_bench._set_synchronous(store, sync)
        for write in (True, False):  # the kept writer and a reader
            with store._db.transaction(write=write) as conn:
                level = conn.execute("PRAGMA synchronous").fetchone()[0]
            assert level == {"NORMAL": 1, "FULL": 2}[sync]
        finals = metadata_bench.record_runs(store, 0, 2, 5)
        _, wrong = metadata_bench.lineage(store, finals, 3, 5)
        assert wrong == ""
        _, wrong = metadata_bench.lineage(store, finals, 3, 6)  # a depth it was not built with
        assert "expected" in wrong
    finally:
        store.close()
