"""What can be done to runs after they ran, for the CLI (``conveyor runs ...``, ``conveyor gc``)
and the UI's API alike: archive, restore, delete, terminate, retry, clone, and garbage
collection of the artifacts nothing kept still needs.

Each function takes explicit stores and returns plain records; the edges render them.
"""

from conveyor.operations.errors import ActionConflict, ActionError
from conveyor.operations.gc import GarbageArtifact, GcPlan, collect_garbage, plan_gc
from conveyor.operations.relaunch import (
    Relaunch,
    check_retry_spec,
    clone_plan,
    launch,
    launch_environment,
    retry_plan,
    wait_started,
)
from conveyor.operations.runs import archive_run, delete_run, find_run, restore_run
from conveyor.operations.terminate import terminate_run

__all__ = [
    "ActionConflict",
    "ActionError",
    "GarbageArtifact",
    "GcPlan",
    "Relaunch",
    "archive_run",
    "check_retry_spec",
    "clone_plan",
    "collect_garbage",
    "delete_run",
    "find_run",
    "launch",
    "launch_environment",
    "plan_gc",
    "restore_run",
    "retry_plan",
    "terminate_run",
    "wait_started",
]
