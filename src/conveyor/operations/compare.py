"""Runs side by side: one row per fact (state, parameter, metric, data and code fingerprint), one
value per run, and whether the runs differ on it. ``conveyor runs compare`` prints it; the UI's
``GET /api/v1/compare`` serves it.

A bounded number of queries per run whatever its size: the run's executions, their events,
their artifacts and the last value of each of its metrics (no metric point is loaded).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from conveyor.errors import NotFoundError
from conveyor.metadata.entities import ContextRecord, EventType
from conveyor.metadata.runs import metrics_artifact_values, newest_executions
from conveyor.metadata.store import CONTEXT_RUN, MetadataStore

__all__ = [
    "SECTIONS",
    "collect_run",
    "compare_contexts",
    "compare_runs",
    "run_context",
    "short_digest",
]

SECTIONS = ("run", "parameter", "metric", "data", "code")
"""Row groups, in display order."""

_DIGEST_CHARS = 12

OUTPUT_SUFFIX = " (output)"
"""Appended to the name of a data row holding an output's digest (``detail=True`` only)."""


def short_digest(digest: Any) -> Any:
    """A digest shortened for display (``sha256:abcdef...`` -> ``abcdef012345``)."""
    if isinstance(digest, list):
        return [short_digest(d) for d in digest]
    if not isinstance(digest, str):
        return digest
    return digest.rpartition(":")[2][:_DIGEST_CHARS]


def _code_digest(code: Any) -> str | None:
    """One digest for a task's code closure (the ``code`` part of its cache key)."""
    if not isinstance(code, dict) or not code:
        return None
    if len(code) == 1:
        return str(short_digest(next(iter(code.values()))))
    blob = json.dumps(code, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:_DIGEST_CHARS]


def _duration(props: dict[str, Any]) -> float | None:
    duration = props.get("duration_seconds")
    if isinstance(duration, int | float):
        return round(float(duration), 3)
    start, end = props.get("started_at"), props.get("finished_at")
    if isinstance(start, int | float) and isinstance(end, int | float):
        return round(end - start, 3)
    return None


def run_context(store: MetadataStore, run_id: str) -> ContextRecord:
    """The context of run ``run_id``.

    Raises:
        NotFoundError: no such run.
    """
    ctx = store.find_context(CONTEXT_RUN, run_id)
    if ctx is None:
        raise NotFoundError(f"No run {run_id!r}. List runs with: conveyor runs list")
    return ctx


def collect_run(
    store: MetadataStore, ctx: ContextRecord, *, detail: bool = False
) -> dict[tuple[str, str], Any]:
    """The rows of one run as ``{(section, name): value}``.

    With ``detail``, also the run's IR digest and each task's output digests (rows named
    ``task.output (output)``); without, exactly what ``conveyor runs compare`` prints.
    Queries: the run's executions, their events, their artifacts and its metrics' last values
    (a bounded number, whatever the number of tasks, artifacts or metric values).
    """
    props = dict(ctx.properties)
    rows: dict[tuple[str, str], Any] = {
        ("run", "state"): props.get("state"),
        ("run", "experiment"): props.get("experiment"),
        ("run", "duration_seconds"): _duration(props),
    }
    if props.get("pipeline"):
        rows[("run", "pipeline")] = props["pipeline"]
    if detail:
        rows[("run", "ir_digest")] = short_digest(props.get("ir_digest"))
    for name, value in sorted(dict(props.get("parameters") or {}).items()):
        rows[("parameter", name)] = value
    for entry in store.metric_summaries(ctx.id):  # the value at each metric's last step
        rows[("metric", entry["name"])] = entry["last_value"]

    newest = newest_executions(store, ctx.id)
    by_id = {e.id: e for e in newest.values()}
    events = store.get_events(execution_ids=list(by_id)) if by_id else []
    arts = {a.id: a for a in store.get_artifacts({ev.artifact_id for ev in events})}
    inputs_seen: dict[str, dict[str, Any]] = {}
    for ev in events:
        task = by_id[ev.execution_id].name
        art = arts.get(ev.artifact_id)
        if art is None:
            continue
        if ev.type == EventType.OUTPUT:
            if detail:
                name = f"{task}.{ev.path}{OUTPUT_SUFFIX}"
                rows[("data", name)] = short_digest(art.fingerprint)
            for name, value in metrics_artifact_values(task, ev.path, art).items():
                rows[("metric", name)] = value
        elif ev.type == EventType.INPUT:
            inputs_seen.setdefault(task, {})[ev.path] = art.fingerprint
    for task in sorted(newest):
        parts = dict(newest[task].properties.get("cache", {}).get("parts") or {})
        data = parts.get("inputs") or inputs_seen.get(task) or {}
        for key, digest in sorted(dict(data).items()):
            rows[("data", f"{task}.{key}")] = short_digest(digest)
        code = _code_digest(parts.get("code"))
        if code is not None:
            rows[("code", task)] = code
    return rows


def compare_contexts(
    store: MetadataStore, contexts: Sequence[ContextRecord], *, detail: bool = False
) -> dict[str, Any]:
    """The comparison of runs given by their contexts (see :func:`compare_runs`)."""
    per_run = [collect_run(store, ctx, detail=detail) for ctx in contexts]
    keys = sorted(
        {key for rows in per_run for key in rows},
        key=lambda k: (SECTIONS.index(k[0]), k[1]),
    )
    table = []
    for section, name in keys:
        values = [rows.get((section, name)) for rows in per_run]
        # wall time always varies: shown, but not a change between the runs
        differs = name != "duration_seconds" and any(v != values[0] for v in values[1:])
        table.append({"section": section, "name": name, "values": values, "differs": differs})
    return {"runs": [ctx.name for ctx in contexts], "rows": table}


def compare_runs(
    store: MetadataStore, run_ids: Sequence[str], *, detail: bool = False
) -> dict[str, Any]:
    """The comparison of ``run_ids`` as JSON-ready data: ``{"runs": [...], "rows": [{"section",
    "name", "values" (one per run, None where a run lacks the fact), "differs"}]}``.

    Raises:
        NotFoundError: a run id is unknown.

    Example:
        >>> compare_runs(store, ["run-a", "run-b"])["rows"][0]  # doctest: +SKIP
        {'section': 'run', 'name': 'duration_seconds', 'values': [1.2, 1.3], 'differs': False}
    """
    contexts = [run_context(store, run_id) for run_id in run_ids]
    return compare_contexts(store, contexts, detail=detail)
