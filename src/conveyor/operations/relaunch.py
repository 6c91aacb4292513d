"""Retry and clone: start a run's pipeline again, from where ``conveyor run`` recorded it was
started (the run's ``source``: target and working directory).

- A **retry** happens in place (same run id): only what did not succeed runs again
  (``LocalOrchestrator.run(..., resume=True)``); the pipeline's IR must still be the run's.
- A **clone** is a new run of the same source with the run's parameters, edits applied and
  checked against the pipeline's parameter types before anything starts.

The UI launches either as a detached ``python -m conveyor`` process (:func:`launch`) and
returns at once; the CLI runs a retry in the foreground unless told ``--detach``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conveyor._internal.paths import path_under
from conveyor.errors import DefinitionError
from conveyor.execution.params import parse_cli_value, resolve_parameters
from conveyor.execution.runs import check_run_id, ir_digest, new_run_id
from conveyor.ir.serialize import spec_from_dict
from conveyor.ir.spec import PipelineSpec
from conveyor.metadata.entities import ArtifactState, ContextRecord
from conveyor.metadata.store import (
    CONTEXT_PIPELINE_VERSION,
    CONTEXT_RUN,
    LIFECYCLE,
    LIFECYCLE_DELETED,
    MetadataStore,
)
from conveyor.operations.errors import ActionConflict, ActionError
from conveyor.operations.runs import find_run

__all__ = [
    "Relaunch",
    "check_retry_spec",
    "clone_plan",
    "launch",
    "launch_environment",
    "recorded_spec",
    "retry_plan",
    "wait_started",
]


@dataclass(frozen=True)
class Relaunch:
    """A run to start: which, from where, with what (``argv`` is the detached command)."""

    run_id: str
    target: str
    cwd: str
    parameters: Mapping[str, Any]
    experiment: str | None
    argv: tuple[str, ...]
    retry: bool
    retries_before: int = 0


def _source(run: ContextRecord) -> tuple[str, str]:
    source = run.properties.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("target"), str):
        raise ActionConflict(
            f"Run {run.name!r} does not record how it was started (it was run from Python, or "
            "by a Conveyor older than its source property)",
            "Start it again with conveyor run PIPELINE; runs started by conveyor run can be "
            "retried and cloned",
        )
    cwd = source.get("cwd")
    if not isinstance(cwd, str) or not os.path.isdir(cwd):
        raise ActionError(
            f"Run {run.name!r} was started in {cwd!r}, which is no longer a folder",
            "Restore that folder, or start the pipeline again with conveyor run",
        )
    return source["target"], cwd


def _value_arg(value: Any) -> str:
    """A parameter value as ``conveyor run -p NAME=VALUE`` reads it back unchanged."""
    if isinstance(value, str):
        try:
            same = parse_cli_value(value) == value
        except Exception:
            same = False
        return value if same else json.dumps(value)
    return json.dumps(value)


def recorded_spec(metadata: MetadataStore, run: ContextRecord) -> PipelineSpec | None:
    """The pipeline IR the run ran, as its pipeline version recorded it (None if not)."""
    digest = run.properties.get("ir_digest")
    pipeline = run.properties.get("pipeline")
    if not isinstance(digest, str) or not isinstance(pipeline, str):
        return None
    version = metadata.find_context(CONTEXT_PIPELINE_VERSION, f"{pipeline}@{digest}")
    ir = version.properties.get("ir") if version is not None else None
    if not isinstance(ir, dict):
        return None
    try:
        return spec_from_dict(ir)
    except Exception:
        return None


def retry_plan(metadata: MetadataStore, run_id: str) -> Relaunch:
    """Check that ``run_id`` can be retried now and say how.

    Raises:
        NotFoundError: no such run.
        ActionConflict: the run is not FAILED or CANCELED, is deleted, has artifacts that gc
            collected (a retry would reuse them), or has no source.
        ActionError: its working directory is gone.
    """
    run = find_run(metadata, run_id)
    state = run.properties.get("state")
    if state not in ("FAILED", "CANCELED"):
        raise ActionConflict(
            f"Run {run_id!r} is {state}; only a FAILED or CANCELED run can be retried",
            f"Clone it to run it again: conveyor runs clone {run_id}",
        )
    if run.properties.get(LIFECYCLE) == LIFECYCLE_DELETED:
        raise ActionConflict(
            f"Run {run_id!r} is deleted", f"Restore it first: conveyor runs restore {run_id}"
        )
    collected = [
        a.id for a in metadata.list_artifacts(context_id=run.id) if a.state == ArtifactState.DELETED
    ]
    if collected:
        raise ActionConflict(
            f"Run {run_id!r} has artifacts that conveyor gc deleted ({len(collected)}, e.g. "
            f"#{collected[0]}), which a retry in place would reuse",
            f"Clone it instead, which recomputes them: conveyor runs clone {run_id}",
        )
    target, cwd = _source(run)
    argv = (sys.executable, "-m", "conveyor", "runs", "retry", run_id, "--quiet")
    return Relaunch(
        run_id, target, cwd, dict(run.properties.get("parameters") or {}),
        run.properties.get("experiment"), argv, True, int(run.properties.get("retries") or 0),
    )  # fmt: skip


def check_retry_spec(metadata: MetadataStore, run_id: str, spec: PipelineSpec) -> None:
    """Refuse to retry ``run_id`` with a pipeline whose IR is not the one it ran.

    Raises:
        ActionConflict: the IR digest differs (the code changed: clone instead).
    """
    recorded = find_run(metadata, run_id).properties.get("ir_digest")
    found = ir_digest(spec)
    now = found[0] if found is not None else None
    if recorded is not None and now != recorded:
        raise ActionConflict(
            f"Pipeline {spec.name!r} changed since run {run_id!r} ran (IR {now}, the run's "
            f"{recorded}): a retry would mix two versions",
            f"Clone the run instead, which starts a new run of the current code: "
            f"conveyor runs clone {run_id}",
        )


def clone_plan(
    metadata: MetadataStore,
    run_id: str,
    edits: Mapping[str, Any] | None = None,
    *,
    experiment: str | None = None,
    new_id: str | None = None,
) -> Relaunch:
    """A new run of ``run_id``'s source with its parameters and ``edits`` applied, each edit
    checked against the parameter types of the IR the run recorded.

    Raises:
        NotFoundError: no such run.
        ActionConflict: the run has no source; ``new_id`` is taken.
        ActionError: a parameter is unknown or of the wrong type (the message names it), the
            run id breaks the name rule, or the working directory is gone.
    """
    run = find_run(metadata, run_id)
    target, cwd = _source(run)
    params = dict(run.properties.get("parameters") or {})
    params.update(edits or {})
    spec = recorded_spec(metadata, run)
    if spec is not None:
        try:
            params = resolve_parameters(spec, params)
        except DefinitionError as exc:
            raise ActionError(str(exc).rstrip("."), "Fix the parameter's value") from None
    if new_id is not None:
        try:
            check_run_id(new_id)
        except DefinitionError as exc:
            raise ActionError(str(exc).rstrip("."), "Choose another run id") from None
        if metadata.find_context(CONTEXT_RUN, new_id) is not None:
            raise ActionConflict(f"Run {new_id!r} already exists", "Choose another run id")
    pipeline = str(run.properties.get("pipeline") or run_id)
    rid = new_id or new_run_id(pipeline)
    exp = experiment if experiment is not None else run.properties.get("experiment")
    argv = [sys.executable, "-m", "conveyor", "run", target, "--run-id", rid, "--quiet"]
    for name, value in sorted(params.items()):
        argv += ["-p", f"{name}={_value_arg(value)}"]
    if exp:
        argv += ["--experiment", str(exp)]
    return Relaunch(rid, target, cwd, params, exp or None, tuple(argv), False)


def launch(plan: Relaunch, *, home: str, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start ``plan.argv`` detached (its own session) in the run's folder, output to
    ``<home>/launches/<run_id>.log``; a thread reaps it when it ends (no zombie)."""
    folder = os.path.join(os.path.abspath(home), "launches")
    os.makedirs(folder, exist_ok=True)
    log_path = path_under(
        folder, f"{plan.run_id}.log", error=lambda m: ActionError(m, "Use a valid run id")
    )
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            list(plan.argv), cwd=plan.cwd, env=dict(env), stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return proc


def _log_tail(home: str, run_id: str, lines: int = 12) -> str:
    path = os.path.join(os.path.abspath(home), "launches", f"{run_id}.log")
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()[-4000:]
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def wait_started(
    metadata: MetadataStore,
    plan: Relaunch,
    proc: subprocess.Popen[bytes],
    *,
    home: str,
    timeout: float = 15.0,
) -> bool:
    """Wait until the launched run is recorded as started (a clone's context exists; a
    retried run is RUNNING again with one more retry), up to ``timeout``; whether it did.

    Raises:
        ActionError: the process ended before the run started (the pipeline failed to load,
            a parameter was refused...); the message carries the end of its output.
    """

    def started() -> bool:
        ctx = metadata.find_context(CONTEXT_RUN, plan.run_id)
        if ctx is None:
            return False
        return not plan.retry or int(ctx.properties.get("retries") or 0) > plan.retries_before

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if started():
            return True
        code = proc.poll()
        if code is not None:
            if started():
                return True  # it ran, and ended already
            tail = _log_tail(home, plan.run_id)
            raise ActionError(
                f"Starting run {plan.run_id!r} failed (exit code {code}): {tail or 'no output'}",
                "Fix the pipeline or the parameters, then try again",
            )
        time.sleep(0.1)
    return False


def launch_environment(
    base: Mapping[str, str], extra: Sequence[tuple[str, str]], home: str
) -> dict[str, str]:
    """The launched process's environment: ``base`` plus ``extra``, with ``CONVEYOR_HOME``
    absolute (the process starts in the run's folder, not here)."""
    env = dict(base)
    env.update(dict(extra))
    env["CONVEYOR_HOME"] = os.path.abspath(home)
    return env
