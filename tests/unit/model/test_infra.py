"""Infra validation: every outcome of loading and querying a model in a fresh process.

Each probe is a new Python process (~0.5 s of CPU with the NumPy-only models below, more
with scikit-learn). To keep the module fast, the ``outcomes`` fixture runs every scenario's
probe at once in threads (the hung one waits out its timeout meanwhile) and each test checks
its own outcome.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil
import pytest
from toy_models import CLASSES, SCHEMA, toy_table

from conveyor.model import _probe_report
from conveyor.model.infra import InfraCheck, InfraResult, validate_model
from conveyor.model.saved import MANIFEST_FILE, save_model
from conveyor.model.transform import fit_transform

TABLE = toy_table(60)
ROWS = TABLE.drop_columns(["y"])
HANG_TIMEOUT = 3.0
MARKER = f"conveyor-infra-test-{uuid.uuid4().hex}"

# Estimators a custom run_fn could return, in a module the probe imports only when its
# folder is on PYTHONPATH (InfraCheck.pythonpath), as serving would need it installed.
HELPER = f'''
import os
import signal
import subprocess
import sys
import time

import numpy as np


class Linear:
    """P(yes) = sigmoid(x . w) on the transformed features."""

    def __init__(self, w):
        self.w = np.asarray(w, dtype=float)

    def predict_proba(self, x):
        p = 1.0 / (1.0 + np.exp(-(x @ self.w)))
        return np.column_stack([1.0 - p, p])

    def predict(self, x):
        return (self.predict_proba(x)[:, 1] > 0.5).astype(int)


class Hangs(Linear):
    """Never finishes loading (say, it waits on a network share); it started a worker too."""

    def __setstate__(self, state):
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "{MARKER}"])
        time.sleep(60)


class Segfaults(Linear):
    def predict(self, x):
        os.kill(os.getpid(), signal.SIGSEGV)


class NaNRegressor:
    def predict(self, x):
        return np.full(len(x), np.nan)
'''


@pytest.fixture(scope="module")
def helper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ModuleType, str]]:
    """The helper module (imported here to pickle its objects) and its folder."""
    folder = tmp_path_factory.mktemp("helper")
    name = f"infra_helper_{uuid.uuid4().hex[:8]}"
    (folder / f"{name}.py").write_text(HELPER)
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(name), str(folder)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(name, None)


def _save(path: Path, estimator: Any, task: str = "classification") -> str:
    fitted = fit_transform(TABLE, SCHEMA, "y")
    classes = CLASSES if task == "classification" else None
    save_model(str(path), estimator, fitted, task=task, label="y", classes=classes)
    return str(path)


@dataclass
class Outcome:
    result: InfraResult
    seconds: float


@pytest.fixture(scope="module")
def outcomes(
    helper: tuple[ModuleType, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    """Every scenario's result, probed concurrently."""
    module, folder = helper
    root = tmp_path_factory.mktemp("models")
    w = [2.0, 1.0, -1.0, 0.0]  # x scaled, then c one-hot: a, b, out-of-vocabulary
    good = _save(root / "good", module.Linear(w))
    corrupt = _save(root / "corrupt", module.Linear(w))
    (root / "corrupt" / "model.pkl").write_bytes(b"\x80\x05 truncated pickle")
    no_manifest = _save(root / "no_manifest", module.Linear(w))
    (root / "no_manifest" / MANIFEST_FILE).unlink()
    fast = {"num_requests": 10, "warmup_requests": 1, "pythonpath": (folder,)}
    scenarios: dict[str, tuple[str, InfraCheck]] = {
        "hangs": (  # first: it has the longest to wait
            _save(root / "hangs", module.Hangs(w)),
            InfraCheck(timeout_seconds=HANG_TIMEOUT, **fast),
        ),
        "good": (good, InfraCheck(pythonpath=(folder,))),
        "latency": (good, InfraCheck(batch_size=3, max_latency_ms_p99=0.000001, **fast)),
        "memory": (good, InfraCheck(max_memory_mb=1.0, max_latency_ms_p99=60_000.0, **fast)),
        "corrupt": (corrupt, InfraCheck(**fast)),
        "no_manifest": (no_manifest, InfraCheck(**fast)),
        "no_pythonpath": (good, InfraCheck(num_requests=10)),
        "segfaults": (_save(root / "segfaults", module.Segfaults(w)), InfraCheck(**fast)),
        "nan": (_save(root / "nan", module.NaNRegressor(), "regression"), InfraCheck(**fast)),
    }

    def probe(item: tuple[str, InfraCheck]) -> Outcome:
        started = time.monotonic()
        result = validate_model(item[0], ROWS, item[1])
        return Outcome(result, time.monotonic() - started)

    with ThreadPoolExecutor(max_workers=len(scenarios)) as pool:
        done = pool.map(probe, scenarios.values())
        return dict(zip(scenarios, done, strict=True))


@pytest.fixture
def outcome(outcomes: dict[str, Outcome]) -> Callable[[str], InfraResult]:
    def get(name: str) -> InfraResult:
        return outcomes[name].result

    return get


def test_a_good_model_is_blessed_with_plausible_figures(outcome):
    result = outcome("good")
    assert (result.blessed, result.reason, result.failures) == (True, "BLESSED", [])
    assert result.num_requests == 100 and result.rows_per_request == 1
    assert 0 < result.import_seconds <= result.load_seconds < 60
    assert 0 < result.latency_ms_p50 <= result.latency_ms_p95 <= result.latency_ms_p99
    assert result.latency_ms_p99 <= result.latency_ms_max < 5_000
    assert result.throughput_rows_per_second > 0
    assert 10 < result.peak_rss_mb < 4_000
    assert result.versions["python"] == ".".join(map(str, sys.version_info[:3]))
    assert {"numpy", "pyarrow", "conveyor"} <= set(result.versions)
    assert result.model["task"] == "classification" and result.model["classes"] == CLASSES
    assert len(result.predictions) == 10 and set(result.predictions) <= set(CLASSES)
    assert result.warnings == []  # in particular, no pipeline module was imported
    document = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert document["reason"] == "BLESSED" and document["check"]["num_requests"] == 100


def test_a_corrupted_estimator_file_fails_to_load_with_the_error(outcome):
    result = outcome("corrupt")
    assert (result.blessed, result.reason) == (False, "LOAD_FAILED")
    assert "Cannot read the estimator" in result.message and "model.pkl" in result.message
    assert "Traceback" in result.stderr_tail  # the probe logs it, as a server would
    assert result.latency_ms_p99 is None and result.num_requests == 0


def test_a_folder_without_manifest_fails_to_load(outcome):
    result = outcome("no_manifest")
    assert (result.blessed, result.reason) == (False, "LOAD_FAILED")
    assert f"no {MANIFEST_FILE}" in result.message


def test_the_probe_does_not_see_the_callers_sys_path(outcome):
    """The estimator's module is importable here but not in a clean process: not servable."""
    result = outcome("no_pythonpath")
    assert result.reason == "LOAD_FAILED"
    assert "No module named 'infra_helper_" in result.message
    assert "InfraCheck.pythonpath" in result.message


def _broke_only(result: InfraResult, bound: str) -> None:
    """The model is not blessed, for breaking ``bound`` and nothing else."""
    assert (result.blessed, result.reason, result.failures) == (False, bound, [bound])


def test_a_latency_bound_is_checked_on_the_p99_of_requests(outcome):
    result = outcome("latency")
    _broke_only(result, "LATENCY_EXCEEDED")
    assert "p99 latency" in result.message and "> 1e-06 ms" in result.message
    assert result.rows_per_request == 3 and result.num_requests == 10
    assert result.latency_ms_p99 is not None and result.latency_ms_p99 > 0.000001


def test_a_memory_bound_is_checked_on_the_peak_rss(outcome):
    result = outcome("memory")
    _broke_only(result, "MEMORY_EXCEEDED")
    assert f"peak memory {result.peak_rss_mb:.4g} MiB > 1 MiB" in result.message


def test_a_hanging_model_times_out_and_its_processes_are_killed(outcomes):
    outcome = outcomes["hangs"]
    result = outcome.result
    assert (result.blessed, result.reason) == (False, "TIMEOUT")
    # stopped at the timeout, not when the hang ends (the margin absorbs a loaded machine)
    assert HANG_TIMEOUT <= outcome.seconds < HANG_TIMEOUT + 15
    assert "within 3 s" in result.message and "at stage 'load'" in result.message
    left = [
        p.pid
        for p in psutil.process_iter(["cmdline", "status"])
        if MARKER in (p.info["cmdline"] or []) and p.info["status"] != psutil.STATUS_ZOMBIE
    ]
    assert left == [], "the model's worker process outlived the probe"


def test_a_crashing_model_is_reported_with_the_signal(outcome):
    result = outcome("segfaults")
    assert (result.blessed, result.reason) == (False, "CRASHED")
    assert "killed by SIGSEGV" in result.message and "stage 'predict (warmup)'" in result.message
    assert "Fatal Python error: Segmentation fault" in result.stderr_tail
    assert "in predict" in result.stderr_tail  # the frame of the model's code


def test_a_model_predicting_nan_is_not_blessed(outcome):
    result = outcome("nan")
    assert (result.blessed, result.reason) == (False, "BAD_PREDICTIONS")
    assert "10 of 10 predictions are not finite numbers" in result.message
    assert result.to_dict()["predictions"][0] is None  # JSON-safe
    assert math.isnan(result.predictions[0])


def _probe_output(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "model": {"task": "classification", "classes": CLASSES},
        "request_sizes": [[1, 1, 1], [1, 1, 1]],
        "predictions": ["no", "yes"],
        "probabilities": [[0.9, 0.1], [0.2, 0.8]],
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({}, None),
        ({"predictions": ["no", "maybe"]}, "not among the model's classes"),
        ({"probabilities": [[0.9, 0.1], [0.7, 0.7]]}, "sums to 1.4"),
        ({"probabilities": [[0.9, 0.1], [1.5, -0.5]]}, "outside [0, 1]"),
        ({"probabilities": [[0.9, 0.1], [1.0]]}, "has 1 values for 2 classes"),
        ({"request_sizes": [[1, 1, 1], [1, 2, 1]]}, "request 1 had 1 row(s) but got 2"),
        ({"request_sizes": [[1, 1, 1]]}, "1 requests were answered, 2 were sent"),
    ],
)
def test_classifier_predictions_are_checked(changes, problem):
    problems = _probe_report.prediction_problems(
        _probe_output(**changes), InfraCheck(num_requests=2)
    )
    assert (problems == []) if problem is None else (problem in "; ".join(problems)), problems


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"num_requests": 0}, "num_requests must be an integer >= 1"),
        ({"warmup_requests": -1}, "warmup_requests must be an integer >= 0"),
        ({"max_latency_ms_p99": -5.0}, "positive number of milliseconds"),
        ({"timeout_seconds": float("inf")}, "timeout_seconds must be a positive number"),
    ],
)
def test_bad_settings_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        InfraCheck(**fields)


def test_no_rows_is_refused_before_starting_a_process(tmp_path):
    with pytest.raises(ValueError, match="the table is empty"):
        validate_model(str(tmp_path), ROWS.slice(0, 0))
