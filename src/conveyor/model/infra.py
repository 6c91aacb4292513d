"""Infra validation: load a model in a fresh process as serving will, and time sample requests.

:func:`validate_model` starts ``python -m conveyor.model._serve_probe`` (the same interpreter,
a clean environment, an empty temporary working directory), which imports only what a model
server imports, loads the model, answers warmup then ``num_requests`` requests of
``batch_size`` rows each, and reports the load time, every request's latency, the peak
memory and the predictions. The parent never loads the model itself (model code may hang or
crash); it checks the predictions, applies the bounds and turns every outcome into an
:class:`InfraResult`: a model that fails to load or predict is not blessed, and neither is
one that breaks a bound.

Reason codes, in the order they are decided: ``TIMEOUT``, ``CRASHED``, ``LOAD_FAILED``,
``PREDICT_FAILED``, ``BAD_PREDICTIONS``, then the bounds ``LOAD_TIME_EXCEEDED``,
``LATENCY_EXCEEDED``, ``MEMORY_EXCEEDED`` (all broken bounds are listed in ``failures``),
and ``BLESSED``.

Example:
    >>> result = validate_model("artifacts/.../model", eval_rows.drop_columns(["species"]),
    ...                         InfraCheck(max_latency_ms_p99=50))  # doctest: +SKIP
    >>> result.blessed, result.reason, result.latency_ms_p99  # doctest: +SKIP
    (True, 'BLESSED', 1.9)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from conveyor._internal.openmp import configure_openmp
from conveyor.model import _probe_report as report

__all__ = ["REASONS", "InfraCheck", "InfraResult", "validate_model"]

PROBE_MODULE = "conveyor.model._serve_probe"
REASONS = (
    "BLESSED",
    "LOAD_FAILED",
    "PREDICT_FAILED",
    "BAD_PREDICTIONS",
    "LOAD_TIME_EXCEEDED",
    "LATENCY_EXCEEDED",
    "MEMORY_EXCEEDED",
    "TIMEOUT",
    "CRASHED",
)
"""Every ``InfraResult.reason``."""

ENV_KEPT = (
    "PATH",
    "HOME",
    "USER",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "PYTHONPATH",
    "LD_LIBRARY_PATH",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "SYSTEMROOT",
    "OMP_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "GOMP_SPINCOUNT",
)
"""Variables of the caller's environment the probe inherits; nothing else leaks through."""

STDERR_TAIL_LINES = 20
STDERR_TAIL_CHARS = 3000


@dataclass(frozen=True)
class InfraCheck:
    """What the probe sends and the bounds a model must keep to be blessed.

    Args:
        num_requests: timed requests (each answered by ``predict``, and ``predict_proba``
            for classifiers that have it, as a serving response carries both).
        batch_size: rows per request; 1 is online serving, one row at a time.
        warmup_requests: untimed requests sent first (caches, lazy initialisation).
        max_latency_ms_p99: bound on the 99th percentile of request latency, in ms.
        max_memory_mb: bound on the probe's peak resident memory, in MiB.
        max_load_seconds: bound on the cold start: process start, imports and
            ``load_model``.
        timeout_seconds: the whole probe is killed (its process group) after this.
        pythonpath: folders put first on the probe's ``PYTHONPATH``, for a model whose
            pickled estimator or ``preprocessing_fn`` needs your modules. Serving needs them
            too: prefer installing them in the serving environment.
        env: extra environment variables of the probe (the rest is cleared but for
            :data:`ENV_KEPT`, with ``GOMP_SPINCOUNT`` set as in workers).

    Raises:
        ValueError: a count is below 1 (``warmup_requests`` below 0) or a bound or the
            timeout is not a positive number.
    """

    num_requests: int = 100
    batch_size: int = 1
    warmup_requests: int = 5
    max_latency_ms_p99: float | None = None
    max_memory_mb: float | None = None
    max_load_seconds: float | None = None
    timeout_seconds: float = 300.0
    pythonpath: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("num_requests", "batch_size", "warmup_requests"):
            value = getattr(self, name)
            low = 0 if name == "warmup_requests" else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"InfraCheck.{name} must be an integer >= {low}, got {value!r}")
        bounds = ("max_latency_ms_p99", "max_memory_mb", "max_load_seconds", "timeout_seconds")
        for name in bounds:
            value = getattr(self, name)
            if value is None and name != "timeout_seconds":
                continue
            if not report.is_number(value) or not value > 0 or not math.isfinite(value):
                raise ValueError(
                    f"InfraCheck.{name} must be a positive number of "
                    f"{_UNITS[name]}, got {value!r}"
                    + ("; use None for no bound" if name != "timeout_seconds" else "")
                )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; of ``env`` only the names (values may be secrets)."""
        data = asdict(self)
        data["pythonpath"] = list(self.pythonpath)
        data["env"] = sorted(self.env)
        return data


_UNITS = {
    "max_latency_ms_p99": "milliseconds",
    "max_memory_mb": "MiB",
    "max_load_seconds": "seconds",
    "timeout_seconds": "seconds",
}


@dataclass
class InfraResult:
    """The outcome of one infra validation.

    ``load_seconds`` is the cold start (process start to model ready), ``import_seconds``
    its share before ``load_model`` (the interpreter and Conveyor's imports; the framework
    is imported by ``load_model``). Latencies are per
    request (``rows_per_request`` rows), in milliseconds; ``throughput_rows_per_second`` is
    rows answered per second of request time, one request at a time. ``failures`` lists
    every reason code that applies (``reason`` is the first). ``predictions`` is a sample of
    the first few predictions; ``versions`` are those of the probe's interpreter and
    libraries, ``model`` what the manifest says (framework, the version it was saved with,
    task, classes). ``warnings`` never prevent the blessing.
    """

    blessed: bool
    reason: str
    message: str
    failures: list[str] = field(default_factory=list)
    load_seconds: float | None = None
    import_seconds: float | None = None
    latency_ms_p50: float | None = None
    latency_ms_p95: float | None = None
    latency_ms_p99: float | None = None
    latency_ms_max: float | None = None
    throughput_rows_per_second: float | None = None
    peak_rss_mb: float | None = None
    num_requests: int = 0
    rows_per_request: int = 1
    versions: dict[str, str] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    predictions: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stderr_tail: str = ""
    elapsed_seconds: float = 0.0
    check: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN in the prediction sample is written as ``null``)."""
        data = asdict(self)
        data["predictions"] = [_json_safe(v) for v in self.predictions]
        return data


def validate_model(model_path: str, rows: pa.Table, check: InfraCheck | None = None) -> InfraResult:
    """Load the model at ``model_path`` in a fresh process and send it requests from ``rows``.

    ``rows`` are raw feature rows, as a client sends them (no label). Request ``i`` takes
    ``check.batch_size`` rows from row ``i * batch_size`` on, cycling through ``rows`` when
    there are fewer than ``num_requests * batch_size``. Every failure of the model (and of the
    probe) becomes a non-blessed result whose ``message`` says what happened and how to fix
    it, with the tail of the probe's stderr.

    Raises:
        ValueError: ``rows`` is empty (there is nothing to send).

    Example:
        >>> result = validate_model(model.path, rows, InfraCheck(num_requests=50))  # doctest: +SKIP
        >>> result.reason  # doctest: +SKIP
        'BLESSED'
    """
    check = check or InfraCheck()
    if rows.num_rows == 0:
        raise ValueError(
            f"No request rows to send to the model at {model_path!r}: the table is empty. "
            "Give at least one row of raw features (e.g. from the eval split)"
        )
    started = time.monotonic()
    model_path = os.path.abspath(model_path)
    with tempfile.TemporaryDirectory(prefix="conveyor-infra-") as work:
        outcome = _run_probe(model_path, rows, check, work)
    result = _judge(outcome, check, model_path)
    result.elapsed_seconds = time.monotonic() - started
    result.check = check.to_dict()
    return result


@dataclass
class _Outcome:
    """What the probe process left: its result document (if any), exit code, stage, stderr."""

    data: dict[str, Any] | None
    returncode: int | None  # None: killed on timeout
    stage: str
    stderr: str
    seconds: float


def _run_probe(model_path: str, rows: pa.Table, check: InfraCheck, work: str) -> _Outcome:
    files = {
        name: os.path.join(work, name)
        for name in ("config.json", "rows.parquet", "result.json", "status", "stdout", "stderr")
    }
    pq.write_table(rows, files["rows.parquet"])
    config = {
        "model_path": model_path,
        "rows_file": files["rows.parquet"],
        "result_file": files["result.json"],
        "status_file": files["status"],
        "num_requests": check.num_requests,
        "batch_size": check.batch_size,
        "warmup_requests": check.warmup_requests,
    }
    with open(files["config.json"], "w", encoding="utf-8") as fh:
        json.dump(config, fh)
    cwd = os.path.join(work, "cwd")
    os.mkdir(cwd)
    posix = os.name == "posix"
    with open(files["stdout"], "wb") as out, open(files["stderr"], "wb") as err:
        launched_at = time.time()
        began = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", PROBE_MODULE, files["config.json"], repr(launched_at)],
            cwd=cwd,
            env=_probe_env(check),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=posix,  # its own process group, killed as a whole
        )
        returncode: int | None
        try:
            returncode = proc.wait(timeout=check.timeout_seconds)
        except subprocess.TimeoutExpired:
            returncode = None
        finally:  # on timeout, or when we are interrupted ourselves
            if proc.poll() is None:  # still ours: its pid (and group id) cannot be reused
                _kill_group(proc, posix)
        seconds = time.monotonic() - began
    data = None
    if returncode is not None and os.path.exists(files["result.json"]):
        try:
            with open(files["result.json"], encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            data = None
    return _Outcome(
        data=data,
        returncode=returncode,
        stage=_read_text(files["status"]) or "starting",
        stderr=_read_text(files["stderr"]),
        seconds=seconds,
    )


def _probe_env(check: InfraCheck) -> dict[str, str]:
    env = {k: os.environ[k] for k in ENV_KEPT if k in os.environ}
    configure_openmp(env)
    env.update(check.env)
    if check.pythonpath:
        paths = [os.path.abspath(p) for p in check.pythonpath]
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def _kill_group(proc: subprocess.Popen[bytes], posix: bool) -> None:
    """Kill the running probe and anything it started (a model may spawn workers), reap it."""
    if posix:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.kill()
    proc.wait()


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def _tail(text: str) -> str:
    lines = text.rstrip().splitlines()[-STDERR_TAIL_LINES:]
    return "\n".join(lines)[-STDERR_TAIL_CHARS:]


def _failed(reason: str, message: str, outcome: _Outcome, **fields: Any) -> InfraResult:
    tail = _tail(outcome.stderr)
    if tail:
        message = f"{message}\nstderr of the probe (last lines):\n{tail}"
    return InfraResult(
        blessed=False, reason=reason, message=message, failures=[reason], stderr_tail=tail, **fields
    )


def _judge(outcome: _Outcome, check: InfraCheck, model_path: str) -> InfraResult:
    if outcome.returncode is None:
        return _failed(
            "TIMEOUT",
            f"The serving probe of {model_path!r} did not finish within "
            f"{check.timeout_seconds:g} s and was killed; it was at stage {outcome.stage!r}. "
            "A model that hangs there is not servable; if it is only slow, raise "
            "timeout_seconds or lower num_requests",
            outcome,
        )
    data = outcome.data
    if data is None:
        return _failed("CRASHED", _crash_message(outcome, model_path), outcome)
    common = report.figures(data, check)
    error = data.get("error")
    if error:
        stage = str(error.get("stage", ""))
        what = f"{error.get('type')}: {error.get('message')}".rstrip(". ")
        if stage == "load":
            return _failed(
                "LOAD_FAILED",
                f"The model at {model_path!r} failed to load in a fresh process: {what}. "
                "Check that the model folder is complete and that the serving environment "
                "has its framework and any module its estimator or transform needs "
                "(InfraCheck.pythonpath)",
                outcome,
                **common,
            )
        if stage.startswith("predict"):
            return _failed(
                "PREDICT_FAILED",
                f"The model at {model_path!r} loaded but failed to answer a request of "
                f"{check.batch_size} row(s): {what}. Check that the request rows carry every "
                "input of the model signature with its type",
                outcome,
                **common,
            )
        return _failed(
            "CRASHED",
            f"The serving probe of {model_path!r} failed at stage {stage!r}: {what}",
            outcome,
            **common,
        )
    problems = report.prediction_problems(data, check)
    if problems:
        return _failed(
            "BAD_PREDICTIONS",
            f"The model at {model_path!r} answered, but its predictions are not servable: "
            f"{'; '.join(problems)}",
            outcome,
            **common,
        )
    failures, reasons = report.bound_failures(common, check)
    warnings = report.warnings(data)
    tail = _tail(outcome.stderr)
    if failures:
        return InfraResult(
            blessed=False,
            reason=failures[0],
            message=f"The model at {model_path!r} works but breaks its bounds: "
            + "; ".join(reasons),
            failures=failures,
            warnings=warnings,
            stderr_tail=tail,
            **common,
        )
    lat = common["latency_ms_p99"]
    return InfraResult(
        blessed=True,
        reason="BLESSED",
        message=(
            f"The model loaded in {common['load_seconds']:.2f} s and answered "
            f"{common['num_requests']} requests of {check.batch_size} row(s) with valid "
            f"predictions (p99 {lat:.2f} ms, peak memory {common['peak_rss_mb']:.0f} MiB)"
        ),
        warnings=warnings,
        stderr_tail=tail,
        **common,
    )


def _crash_message(outcome: _Outcome, model_path: str) -> str:
    code = outcome.returncode or 0
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = (
            " (SIGKILL from outside is often the out-of-memory killer: check max_memory_mb "
            "against the machine's memory)"
            if -code == signal.SIGKILL
            else ""
        )
        how = f"was killed by {name}{hint}"
    else:
        how = f"exited with code {code} without writing its result"
    return (
        f"The serving probe of {model_path!r} {how}, at stage {outcome.stage!r}. Native code "
        "of the model's framework or of its estimator may have crashed, or called exit"
    )


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value
