"""Run one task of a run, anywhere: the single entry every runner uses."""

from conveyor.execution.boundary import call_user_code, format_user_traceback
from conveyor.execution.params import parse_cli_value, resolve_parameters
from conveyor.execution.prepare import PreparedTask, load_task_outputs, prepare_task
from conveyor.execution.results import ArtifactRef, RunInfo, TaskOutputs, TaskResult
from conveyor.execution.runs import (
    code_root_for,
    new_run_id,
    open_run,
    record_not_run,
    refresh_run_state,
)
from conveyor.execution.task import execute_task, record_cache_hit, run_prepared

__all__ = [
    "ArtifactRef",
    "PreparedTask",
    "RunInfo",
    "TaskOutputs",
    "TaskResult",
    "call_user_code",
    "code_root_for",
    "execute_task",
    "format_user_traceback",
    "load_task_outputs",
    "new_run_id",
    "open_run",
    "parse_cli_value",
    "prepare_task",
    "record_cache_hit",
    "record_not_run",
    "refresh_run_state",
    "resolve_parameters",
    "run_prepared",
]
