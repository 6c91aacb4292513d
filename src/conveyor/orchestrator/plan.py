"""Dry run: which steps a run would reuse from the cache and which it would run, and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conveyor._internal.importing import import_object
from conveyor.cache.lookup import find_cache_hit
from conveyor.errors import ConveyorError
from conveyor.execution.explain import explain_miss
from conveyor.execution.flow import Flow, NotRun
from conveyor.execution.params import resolve_parameters
from conveyor.execution.prepare import prepare_task
from conveyor.execution.results import ArtifactRef, RunInfo, TaskOutputs
from conveyor.ir.spec import (
    Constant,
    ListRef,
    PipelineParameterRef,
    PipelineSpec,
    TaskOutputRef,
    TaskSpec,
    ValueRef,
)
from conveyor.metadata.entities import ExecutionState
from conveyor.metadata.store import MetadataStore
from conveyor.storage.store import ArtifactStore

__all__ = ["PlanEntry", "plan_run"]


@dataclass(frozen=True)
class PlanEntry:
    """What a run would do with one task.

    ``decision`` is ``hit`` (reused), ``miss`` (runs), ``disabled`` (caching off),
    ``runs`` (caching off, but the outputs' content is known in advance, as for importers),
    ``after-upstream`` (an upstream step runs first; its outputs decide), ``at-run-time``
    (inside control flow: a condition, a loop or a parallel-for decides when the run gets
    there) or ``skipped`` (a condition on pipeline parameters is already false).
    """

    task: str
    decision: str
    reasons: list[str] = field(default_factory=list)
    cache_key: str | None = None
    cached_from: int | None = None


def _planned_outputs(
    spec: PipelineSpec, task: str, parameters: Mapping[str, Any], search_root: str | None
) -> TaskOutputs | None:
    """Outputs of an always-running step whose component predicts their digests."""
    comp = spec.component_of(task)
    impl = comp.implementation
    try:
        obj = import_object(impl.module, impl.function, impl.source_file, search_root)
        predict = getattr(obj, "plan_outputs", None)
        if predict is None:
            return None
        digests = dict(predict(**parameters))
    except Exception:  # a dry run falls back to "decided at run time"
        return None
    if set(digests) != set(comp.output_artifacts):
        return None
    return TaskOutputs(
        {},
        {
            key: ArtifactRef(
                id=-1,
                uri="(planned)",
                type_name=comp.output_artifacts[key].type,
                fingerprint=digest,
            )
            for key, digest in digests.items()
        },
    )


def _uses_control_flow(task: TaskSpec) -> bool:
    plain = (Constant, PipelineParameterRef, TaskOutputRef)

    def ok(ref: ValueRef) -> bool:
        if isinstance(ref, ListRef):
            return all(ok(i) for i in ref.items)
        return isinstance(ref, plain)

    return bool(task.dynamic) or not all(ok(r) for r in task.inputs.values())


def _decided_up_front(
    spec: PipelineSpec, values: Mapping[str, Any]
) -> tuple[dict[str, str], set[str]]:
    """What the run's control flow decides before any step runs: the tasks a condition on
    pipeline parameters (or constants) rules out, with why, and the tasks whose every group
    already opened without iterating (a true condition, an exit handler): planned as usual."""
    if not spec.groups:
        return {}, set()
    flow = Flow(spec, values, run_id="(plan)")
    skipped = {
        d.task: d.reason
        for d in flow.advance()
        if isinstance(d, NotRun) and d.state == ExecutionState.SKIPPED
    }
    plain = {
        task
        for task in spec.tasks
        if task not in skipped
        and all(
            not spec.groups[g].iterates and flow.opened(g) is True for g in spec.groups_of(task)
        )
    }
    return skipped, plain


def plan_run(
    spec: PipelineSpec,
    parameters: Mapping[str, Any] | None,
    metadata: MetadataStore,
    storage: ArtifactStore,
    *,
    use_cache: bool = True,
    search_root: str | None = None,
) -> list[PlanEntry]:
    """Decide hit or miss for every task without running anything or writing metadata."""
    values = resolve_parameters(spec, parameters)
    run = RunInfo(run_id="(plan)", pipeline=spec.name, run_context_id=-1, pipeline_context_id=-1)
    outputs: dict[str, TaskOutputs] = {}
    entries: dict[str, PlanEntry] = {}
    handlers = {g.handler_task for g in spec.groups.values() if g.kind == "exit_handler"}
    skipped, plain = _decided_up_front(spec, values)
    for task in spec.topological_order():
        tspec = spec.tasks[task]
        if task in skipped:
            entries[task] = PlanEntry(task, "skipped", [skipped[task]])
            continue
        in_flow = tspec.group is not None and task not in plain
        if in_flow or task in handlers or _uses_control_flow(tspec):
            where = spec.groups_of(task)
            why = (
                f"inside {spec.groups[where[-1]].kind} group {where[-1]!r}"
                if where
                else "takes values that only exist at run time (collected, one-of, run status)"
            )
            entries[task] = PlanEntry(task, "at-run-time", [f"{why}: decided during the run"])
            continue
        waiting = [d for d in tspec.depends_on if d not in outputs]
        if waiting:
            entries[task] = PlanEntry(
                task,
                "after-upstream",
                [f"upstream task {w!r} runs first; its outputs decide" for w in waiting],
            )
            continue
        try:
            prepared = prepare_task(spec, task, run, values, outputs, None, search_root=search_root)
        except ConveyorError as exc:
            entries[task] = PlanEntry(task, "miss", [f"cannot prepare: {exc}"])
            continue
        if not use_cache or not prepared.cache_enabled:
            why = "cache disabled for this run" if not use_cache else "cache disabled for this task"
            planned = _planned_outputs(spec, task, prepared.parameters, search_root)
            if planned is not None:
                # the step runs anyway, but its outputs' content is known: plan past it
                outputs[task] = planned
                why += "; its outputs' content is known in advance, so later steps are planned"
                entries[task] = PlanEntry(task, "runs", [why], prepared.key)
            else:
                entries[task] = PlanEntry(task, "disabled", [why], prepared.key)
            continue
        comp = spec.component_of(task)
        lookup = find_cache_hit(
            metadata, storage, prepared.key, list(comp.output_artifacts), mark_abandoned=False
        )
        if lookup.hit is not None:
            hit = lookup.hit
            outputs[task] = TaskOutputs(
                dict(hit.execution.properties.get("outputs", {})),
                {k: ArtifactRef.from_record(a) for k, a in hit.outputs.items()},
            )
            entries[task] = PlanEntry(task, "hit", [lookup.reason], prepared.key, hit.execution.id)
        else:
            reasons = explain_miss(metadata, spec.name, prepared, lookup.reason)
            entries[task] = PlanEntry(task, "miss", reasons, prepared.key)
    return [entries[t] for t in spec.topological_order()]
