"""The serving probe: load a model in a fresh process and answer sample requests, timed.

Run by :func:`conveyor.model.infra.validate_model` as::

    python -m conveyor.model._serve_probe CONFIG_JSON LAUNCH_TIME

``CONFIG_JSON`` names the model folder, the Parquet file of request rows, the request plan
(``num_requests``, ``batch_size``, ``warmup_requests``) and the files to write: a status file
(the current stage, read by the parent when it has to kill the probe) and the result JSON.
``LAUNCH_TIME`` is the parent's ``time.time()`` just before it started this process, so the
load time includes the interpreter start and the imports, as a serving cold start does.

The probe imports what a model server imports (``conveyor.model.saved`` and its
dependencies), never the pipeline machinery, and it judges nothing: it reports what
happened and the parent decides. Every failure of the model is caught and reported with its
traceback (also printed to stderr, as a server would log it); only a hard crash (a signal,
``os._exit``) leaves no result, which the parent reports as such.
"""

from __future__ import annotations

import faulthandler
import json
import os
import sys
import time
import traceback
from typing import Any

PIPELINE_MODULES = (
    "conveyor.components",
    "conveyor.dsl",
    "conveyor.execution",
    "conveyor.metadata",
    "conveyor.orchestrator",
    "conveyor.storage",
)
"""Packages a model server does not import; the probe reports any that got loaded."""

DISTRIBUTIONS = {
    "conveyor": "conveyor-ml",
    "numpy": "numpy",
    "pyarrow": "pyarrow",
    "sklearn": "scikit-learn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
}
"""Distribution of each module whose version is reported (a framework is named by module)."""

LEAN_BLOCKED = ("sklearn", "pandas")
"""What LightGBM imports only for its scikit-learn and pandas wrappers: a booster serves
without them, and skipping them takes about 1.5 s off a cold start."""


def _lean_imports(model_path: str) -> None:
    """Import LightGBM without scikit-learn and pandas when the model is a LightGBM booster,
    as a model server would (the probe process serves one model and nothing else)."""
    try:
        with open(os.path.join(model_path, "conveyor_model.json"), encoding="utf-8") as fh:
            framework = json.load(fh).get("framework")
    except (OSError, ValueError):
        return  # load_model reports the problem
    if framework != "lightgbm" or "lightgbm" in sys.modules:
        return
    saved = {name: sys.modules.get(name) for name in LEAN_BLOCKED}
    try:
        for name in LEAN_BLOCKED:
            sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError
        import lightgbm  # noqa: F401
    except ImportError:
        pass  # load_model reports a missing LightGBM
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def peak_rss_mb() -> float | None:
    """The peak resident memory of this process, in MiB.

    On Linux this is ``VmHWM`` from ``/proc/self/status``. ``ru_maxrss`` is not used there:
    after a ``vfork`` + ``exec`` (how ``subprocess`` starts us) it still counts the peak of
    the *parent* before the exec, so a probe started by a big process would report the
    parent's memory.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0
    except ImportError:  # Windows
        import importlib

        psutil = importlib.import_module("psutil")  # untyped; a dependency of conveyor
        info = psutil.Process().memory_info()
        return float(getattr(info, "peak_wset", info.rss)) / (1024.0 * 1024.0)


def _versions(framework: str) -> dict[str, str]:
    import importlib.metadata
    import platform

    versions = {"python": platform.python_version()}
    for name in ("conveyor", "numpy", "pyarrow", framework):
        if name in DISTRIBUTIONS:
            try:
                versions[name] = importlib.metadata.version(DISTRIBUTIONS[name])
            except importlib.metadata.PackageNotFoundError:
                versions[name] = "not installed"
    return versions


def _plain(value: Any) -> Any:
    """JSON-ready Python values from NumPy results (NaN stays NaN: the parent checks it)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


class _Probe:
    def __init__(self, config: dict[str, Any], launched_at: float) -> None:
        self.config = config
        self.launched_at = launched_at
        self.result: dict[str, Any] = {"stage": "starting", "error": None}

    def stage(self, name: str) -> None:
        self.result["stage"] = name
        with open(self.config["status_file"], "w", encoding="utf-8") as fh:
            fh.write(name)

    def fail(self, exc: BaseException) -> None:
        traceback.print_exc(file=sys.stderr)
        self.result["error"] = {
            "stage": self.result["stage"],
            "type": type(exc).__name__,
            "message": str(exc),
            "traceback": traceback.format_exc(),
        }

    def write(self) -> None:
        self.result["peak_rss_mb"] = peak_rss_mb()
        self.result["pipeline_modules"] = sorted(
            name for name in sys.modules if name.startswith(PIPELINE_MODULES)
        )
        file = self.config["result_file"]
        with open(file + ".tmp", "w", encoding="utf-8") as fh:
            json.dump(self.result, fh)
        os.replace(file + ".tmp", file)

    def run(self) -> None:
        self.result["import_seconds"] = time.time() - self.launched_at
        try:
            self.stage("load")
            model = self.load()
            self.stage("read requests")
            requests = self.requests()
            self.predict(model, requests)
        except (Exception, SystemExit) as exc:  # the model's code may call sys.exit
            self.fail(exc)
            return
        self.stage("done")

    def load(self) -> Any:
        _lean_imports(self.config["model_path"])
        from conveyor.model.saved import load_model

        model = load_model(self.config["model_path"])
        self.result["load_seconds"] = time.time() - self.launched_at
        manifest = model.manifest
        self.result["model"] = {
            "framework": manifest.framework,
            "framework_version": manifest.framework_version,
            "task": manifest.task,
            "label": manifest.label,
            "classes": _plain(model.classes),
        }
        self.result["versions"] = _versions(manifest.framework)
        return model

    def requests(self) -> list[list[dict[str, Any]]]:
        """Every request (warmup first), as the row dicts a JSON request body decodes to."""
        import pyarrow.parquet as pq

        rows = pq.read_table(self.config["rows_file"]).to_pylist()
        size = int(self.config["batch_size"])
        timed = int(self.config["num_requests"])
        plan = [i % timed for i in range(int(self.config["warmup_requests"]))]
        plan += list(range(timed))
        return [[rows[(i * size + j) % len(rows)] for j in range(size)] for i in plan]

    def predict(self, model: Any, requests: list[list[dict[str, Any]]]) -> None:
        self.stage("predict")
        warmup = int(self.config["warmup_requests"])
        with_proba = model.manifest.task == "classification" and callable(
            getattr(model.estimator, "predict_proba", None)
        )
        latencies: list[float] = []
        sizes: list[list[int]] = []  # per request: rows, predictions, probability rows
        predictions: list[Any] = []
        probabilities: list[Any] = []
        for i, request in enumerate(requests):
            if i == 0 and warmup:
                self.stage("predict (warmup)")
            if i == warmup:
                self.stage("predict (timed requests)")
            started = time.perf_counter()
            predicted = model.predict(request)
            proba = model.predict_proba(request) if with_proba else None
            elapsed = time.perf_counter() - started
            if i < warmup:
                continue
            latencies.append(elapsed * 1000.0)
            sizes.append([len(request), len(predicted), -1 if proba is None else len(proba)])
            predictions.extend(_plain(predicted))
            if proba is not None:
                probabilities.extend(_plain(proba))
        self.result.update(
            latencies_ms=latencies,
            request_sizes=sizes,
            predictions=predictions,
            probabilities=probabilities if with_proba else None,
        )


def main(argv: list[str]) -> int:
    """Run the probe; 0 when the result file was written (whatever the model did)."""
    if len(argv) != 2:
        print(
            "usage: python -m conveyor.model._serve_probe CONFIG_JSON LAUNCH_TIME", file=sys.stderr
        )
        return 2
    faulthandler.enable()  # a crash in native code still leaves a Python traceback on stderr
    with open(argv[0], encoding="utf-8") as fh:
        config = json.load(fh)
    probe = _Probe(config, float(argv[1]))
    try:
        probe.run()
    finally:
        probe.write()
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # No interpreter shutdown: a model's non-daemon threads or atexit hooks must not turn a
    # finished probe into a timeout (a server never shuts down between requests either).
    os._exit(code)
