"""Rebuild a run's control flow from its metadata: what a remote runner launches next.

A runner that starts each task elsewhere (``conveyor exec``) keeps no state between tasks.
Feeding a :class:`Flow` every result the run recorded gives the same decisions the local
orchestrator makes: which instances are ready (``train[3]`` once iteration 2 settled and the
stop condition did not hold), and which are skipped or cancelled (recorded here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conveyor.execution.flow import Flow, Launch, NotRun
from conveyor.execution.prepare import load_task_outputs
from conveyor.execution.results import RunInfo
from conveyor.execution.runs import record_decision
from conveyor.ir.spec import PipelineSpec
from conveyor.metadata.entities import ExecutionRecord, ExecutionState
from conveyor.metadata.store import MetadataStore

__all__ = ["Replay", "replay"]


@dataclass
class Replay:
    """A run's flow after its recorded results, and the instances that may start now."""

    flow: Flow
    ready: dict[str, Launch] = field(default_factory=dict)
    running: list[str] = field(default_factory=list)
    """Ready instances another worker already runs (an execution RUNNING in metadata)."""

    @property
    def state(self) -> str:
        """``FAILED`` when an instance failed or was cancelled (or a group failed),
        ``RUNNING`` while something can still run, else ``COMPLETE``."""
        bad = (ExecutionState.FAILED, ExecutionState.CANCELED)
        if self.flow.failures or any(s in bad for s in self.flow.states.values()):
            return "FAILED"
        if self.ready or self.flow.waiting:
            return "RUNNING"
        return "COMPLETE"


def replay(
    spec: PipelineSpec,
    values: Mapping[str, Any],
    run: RunInfo,
    metadata: MetadataStore,
    *,
    record: bool = True,
) -> Replay:
    """Feed ``run``'s recorded executions to a fresh flow until nothing more can be decided.

    With ``record``, instances the flow decides not to run (skipped, cancelled) and that the
    run has not recorded yet are recorded now, so metadata shows every decision.
    """
    flow = Flow(spec, values, run_id=run.run_id)
    latest: dict[str, ExecutionRecord] = {}
    for record_ in sorted(
        metadata.list_executions(context_id=run.run_context_id), key=lambda e: e.id
    ):
        latest[record_.name] = record_
    out = Replay(flow)
    while True:
        progressed = False
        for decision in flow.advance():
            if isinstance(decision, NotRun):
                progressed = True
                if record and decision.name not in latest:
                    record_decision(metadata, run, spec, decision)
                continue
            name = decision.instance.name
            ex = latest.get(name)
            if ex is None or not ex.state.is_final:
                out.ready[name] = decision
                if ex is not None:
                    out.running.append(name)
                continue
            outputs = load_task_outputs(metadata, run, name) if ex.state.is_success else None
            error = ex.properties.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            flow.finish(name, ex.state, outputs, message)
            progressed = True
        if not progressed:
            return out
