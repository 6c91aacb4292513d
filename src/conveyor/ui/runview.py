"""What the run page shows, read from the metadata store in a bounded number of queries
whatever the number of tasks: the run context, its parents, its executions, their events and
the artifacts those name (five queries), and the run's pipeline IR (cached by digest)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conveyor.ir.serialize import spec_from_dict
from conveyor.ir.spec import PipelineSpec
from conveyor.metadata import (
    CONTEXT_EXPERIMENT,
    CONTEXT_PIPELINE,
    CONTEXT_PIPELINE_VERSION,
    CONTEXT_RUN,
    LIFECYCLE,
    ContextRecord,
    ExecutionRecord,
    MetadataStore,
)
from conveyor.metadata.entities import ArtifactRecord, EventRecord

__all__ = ["RunRecords", "load_run", "load_spec", "run_summary", "task_rows"]

_RUN_FIELDS = (
    "state",
    "pipeline",
    "experiment",
    "parameters",
    "ir_digest",
    "source",
    "started_at",
    "finished_at",
    "duration_seconds",
    "task_states",
    "failed_tasks",
    "tasks",
    "host",
    "pid",
    "mode",
    "launcher",
    "cache",
    "error",
    "loops",
)
_SPEC_CACHE = "ui.runview.specs"
_SPEC_CACHE_SIZE = 64


@dataclass(frozen=True)
class RunRecords:
    """A run context with its parents and executions (oldest first)."""

    run: ContextRecord
    parents: list[ContextRecord]
    executions: list[ExecutionRecord]

    def parent(self, type_name: str) -> ContextRecord | None:
        return next((p for p in self.parents if p.type_name == type_name), None)


def load_run(metadata: MetadataStore, run_id: str, *, executions: bool = True) -> RunRecords | None:
    """The run named ``run_id`` (None if there is none), in three queries."""
    run = metadata.find_context(CONTEXT_RUN, run_id)
    if run is None:
        return None
    parents = metadata.get_parent_contexts(run.id)
    found = metadata.list_executions(context_id=run.id) if executions else []
    found.sort(key=lambda e: e.id)
    return RunRecords(run, parents, found)


def load_spec(
    metadata: MetadataStore, cache: dict[str, Any], records: RunRecords
) -> PipelineSpec | None:
    """The run's pipeline IR (its pipeline version's ``ir``), or None for a run recorded before
    versions were (or whose IR could not be written as JSON). Parsed IRs are kept by digest."""
    version = records.parent(CONTEXT_PIPELINE_VERSION)
    digest = records.run.properties.get("ir_digest")
    if version is None and isinstance(digest, str):
        name = f"{records.run.properties.get('pipeline')}@{digest}"
        version = metadata.find_context(CONTEXT_PIPELINE_VERSION, name)
    if version is None:
        return None
    return spec_of_version(cache, version)


def spec_of_version(cache: dict[str, Any], version: ContextRecord) -> PipelineSpec | None:
    """The IR a pipeline version context holds (parsed once per server and version)."""
    specs: dict[str, PipelineSpec] = cache.setdefault(_SPEC_CACHE, {})
    spec = specs.get(version.name)
    if spec is None:
        ir = version.properties.get("ir")
        if not isinstance(ir, Mapping):
            return None
        spec = spec_from_dict(ir)
        if len(specs) >= _SPEC_CACHE_SIZE:
            specs.pop(next(iter(specs)))
        specs[version.name] = spec
    return spec


def _iso(ts: datetime) -> float:
    return ts.timestamp()


def run_summary(records: RunRecords) -> dict[str, Any]:
    """The run's properties worth showing, plus its parents' names."""
    props = records.run.properties
    out: dict[str, Any] = {
        "id": records.run.name,
        "context_id": records.run.id,
        "lifecycle": props.get(LIFECYCLE) or "active",
        "created_at": _iso(records.run.created_at),
        "updated_at": _iso(records.run.updated_at),
    }
    for key in _RUN_FIELDS:
        out[key] = props.get(key)
    out["parameters"] = dict(props.get("parameters") or {})
    pipeline = records.parent(CONTEXT_PIPELINE)
    experiment = records.parent(CONTEXT_EXPERIMENT)
    version = records.parent(CONTEXT_PIPELINE_VERSION)
    out["pipeline"] = out["pipeline"] or (pipeline.name if pipeline else None)
    out["experiment"] = out["experiment"] or (experiment.name if experiment else None)
    if version is not None and not out["ir_digest"]:
        out["ir_digest"] = version.properties.get("digest")
    return out


def _artifact_row(key: str, artifact: ArtifactRecord | None, artifact_id: int) -> dict[str, Any]:
    if artifact is None:
        return {"key": key, "artifact_id": artifact_id}
    return {
        "key": key,
        "artifact_id": artifact.id,
        "name": artifact.name,
        "type": artifact.type_name,
        "uri": artifact.uri,
        "size_bytes": artifact.size_bytes,
        "digest": artifact.fingerprint,
        "state": str(artifact.state.value),
    }


def _cache_row(record: ExecutionRecord) -> dict[str, Any]:
    props = record.properties
    cache = props.get("cache")
    info: Mapping[str, Any] = cache if isinstance(cache, Mapping) else {}
    state = record.state.value
    decision = {"CACHED": "CACHED", "SKIPPED": "SKIPPED"}.get(state, "ran" if info else None)
    reason = info.get("reason") or (props.get("reason") if state == "SKIPPED" else None)
    return {
        "decision": decision,
        "reason": reason,
        "key": info.get("key") or record.cache_key,
        "parts": info.get("parts"),
    }


def task_rows(
    records: Sequence[ExecutionRecord],
    events: Sequence[EventRecord],
    artifacts: Mapping[int, ArtifactRecord],
    labels: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One row per execution (oldest first), ``latest`` marking each instance's newest;
    ``labels``: display names of tasks (from the IR) that differ from their names."""
    inputs: dict[int, list[dict[str, Any]]] = {}
    outputs: dict[int, list[dict[str, Any]]] = {}
    for ev in events:
        row = _artifact_row(ev.path or "", artifacts.get(ev.artifact_id), ev.artifact_id)
        if ev.type.is_input:
            inputs.setdefault(ev.execution_id, []).append(row)
        elif ev.type.is_output:
            outputs.setdefault(ev.execution_id, []).append(row)
    newest: dict[str, int] = {}
    for record in records:
        newest[str(record.properties.get("task") or record.name)] = record.id
    rows = []
    for record in records:
        props = record.properties
        name = str(props.get("task") or record.name)
        error = props.get("error")
        rows.append(
            {
                "execution_id": record.id,
                "name": name,
                "label": (labels or {}).get(name, name),
                "task": props.get("base_task") or record.type_name,
                "component": props.get("component") or record.type_name,
                "state": record.state.value,
                "latest": newest[name] == record.id,
                "scope": props.get("scope"),
                "started_at": props.get("started_at"),
                "finished_at": props.get("finished_at"),
                "duration_seconds": props.get("duration_seconds"),
                "cache": _cache_row(record),
                "attempts": props.get("attempts") or [],
                "error": error if isinstance(error, Mapping) else None,
                "reason": props.get("reason"),
                "parameters": props.get("parameters") or {},
                "values": props.get("outputs") or {},
                "inputs": sorted(inputs.get(record.id, []), key=lambda r: r["key"]),
                "outputs": sorted(outputs.get(record.id, []), key=lambda r: r["key"]),
                "has_log": bool(props.get("log_path")),
                "host": props.get("host"),
            }
        )
    return rows
