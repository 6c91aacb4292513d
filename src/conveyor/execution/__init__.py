"""Run one task of a run, anywhere: the single entry every runner uses."""

from conveyor.execution.boundary import call_user_code, format_user_traceback
from conveyor.execution.params import parse_cli_value, resolve_parameters
from conveyor.execution.results import ArtifactRef, RunInfo, TaskOutputs, TaskResult
from conveyor.execution.task import (
    PreparedTask,
    code_root_for,
    execute_task,
    load_task_outputs,
    new_run_id,
    open_run,
    prepare_task,
    record_cache_hit,
    record_not_run,
    refresh_run_state,
    run_prepared,
)

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
