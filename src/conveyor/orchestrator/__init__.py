"""The local orchestrator: run a pipeline's IR on this machine."""

from conveyor.orchestrator.local import LocalOrchestrator, RunResult, RunState, reconcile_stale_runs
from conveyor.orchestrator.plan import PlanEntry, plan_run
from conveyor.orchestrator.reporter import RunReporter

__all__ = [
    "LocalOrchestrator",
    "PlanEntry",
    "RunReporter",
    "RunResult",
    "RunState",
    "plan_run",
    "reconcile_stale_runs",
]
