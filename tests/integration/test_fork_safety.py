"""Workers after OpenMP: a pipeline run from a process that already trained a model.

A forked child inherits OpenMP's idle thread team as memory but not as threads, and hangs in
its first parallel region (LightGBM, XGBoost). Notebooks and tests train in-process and then
run pipelines with workers, so the pool must notice and spawn fresh workers instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

STEPS = """
import numpy as np
from conveyor import component, pipeline


@component
def fit(seed: int) -> float:
    import lightgbm

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2000, 5))
    y = (x[:, 0] + rng.normal(size=2000) > 0).astype(int)
    model = lightgbm.LGBMClassifier(n_estimators=20, n_jobs=2, verbose=-1).fit(x, y)
    return float(model.score(x, y))


@pipeline(name="fork_safety")
def fork_safety():
    fit(seed=1)
    fit(seed=2)
"""

DRIVER = """
import json, sys
import numpy as np
import lightgbm
import conveyor
from conveyor.orchestrator.workers import start_method

sys.path.insert(0, ".")
from steps import fork_safety

before = start_method()
x = np.random.default_rng(0).normal(size=(2000, 5))
lightgbm.LGBMClassifier(n_estimators=20, n_jobs=2, verbose=-1).fit(x, (x[:, 0] > 0).astype(int))
after = start_method()
result = conveyor.run(fork_safety, in_process=False, workers=2)
scores = [result.outputs(t).parameters["Output"] for t in ("fit", "fit-2")]
print(json.dumps({"before": before, "after": after, "state": str(result.state), "scores": scores}))
"""


def _run_driver(tmp_path, steps: str, driver: str) -> dict:
    """Write ``steps.py`` and ``driver.py`` in ``tmp_path``, run the driver; its JSON report.

    A forked worker would hang (in OpenMP's parallel region, or on a lock a user thread held),
    so the driver is given 180 s."""
    (tmp_path / "steps.py").write_text(textwrap.dedent(steps))
    (tmp_path / "driver.py").write_text(textwrap.dedent(driver))
    env = {**os.environ, "CONVEYOR_HOME": str(tmp_path / ".conveyor")}
    done = subprocess.run(
        [sys.executable, "driver.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_workers_are_spawned_after_openmp_ran_in_this_process(tmp_path):
    report = _run_driver(tmp_path, STEPS, DRIVER)
    assert report["before"] == "fork"  # a fresh interpreter forks (fast)
    assert report["after"] == "spawn"  # OpenMP's team exists: fresh workers
    assert report["state"].endswith("COMPLETE")
    assert all(0.5 < s <= 1.0 for s in report["scores"])


THREADED_STEPS = """
import threading
import time

from conveyor import component, pipeline

lock = threading.Lock()


def _poll():  # a user's background thread: it holds the lock almost all the time
    while True:
        with lock:
            time.sleep(0.05)
        time.sleep(0.0001)


threading.Thread(target=_poll, name="user-poller", daemon=True).start()


@component(timeout=60)
def locked(n: int) -> int:
    with lock:  # a forked worker inherits the lock held, and no thread to release it
        return n + 1


@pipeline(name="threaded")
def threaded():
    locked(n=1)
    locked(n=2)
"""

THREADED_DRIVER = """
import json, sys
sys.path.insert(0, ".")
import steps
import conveyor
from conveyor.orchestrator.workers import start_method

result = conveyor.run(steps.threaded, in_process=False, workers=2)
outputs = sorted(r.outputs.parameters.get("Output", 0) for r in result.tasks.values())
print(json.dumps({"method": start_method(), "state": str(result.state), "outputs": outputs}))
"""


def test_workers_are_spawned_when_a_user_thread_may_hold_a_lock(tmp_path):
    report = _run_driver(tmp_path, THREADED_STEPS, THREADED_DRIVER)
    assert report["method"] == "spawn"
    assert report["state"].endswith("COMPLETE")
    assert report["outputs"] == [2, 3]
