"""``@component(in_process=True)``: the step runs in the orchestrator's process, with the
results it would have in a worker."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def test_an_in_process_step_gives_what_a_worker_gives(
    load: Callable[[str], Any], run_pipeline: Callable[..., Any], home: Path
) -> None:
    pipe = load("in_process_steps")
    result = run_pipeline(pipe.resolvers, workers=2)
    assert result.failed_tasks == []
    here, worker = result.outputs("look_up_here"), result.outputs("look_up_in_worker")
    # where each ran: this process (the orchestrator) and a worker
    assert here.parameters["Output"] == os.getpid() != worker.parameters["Output"]
    # what each produced: the same bytes and the same recorded properties
    found_here, found_worker = here.artifacts["found"], worker.artifacts["found"]
    assert _read(found_here.uri) == _read(found_worker.uri)
    assert '"newest": true' in _read(found_here.uri)
    assert found_here.fingerprint == found_worker.fingerprint
    assert found_here.properties == found_worker.properties
    assert found_here.properties["pipeline"] == "resolvers"
    # and the same records: a COMPLETE execution with its log, state and cache reason
    tasks = result.tasks
    for name in ("look_up_here", "look_up_in_worker"):
        log = Path(tasks[name].log_path).read_text()
        assert "looked up 1 datasets" in log, log
    assert tasks["look_up_here"].state == tasks["look_up_in_worker"].state
    assert tasks["look_up_here"].cache_reason == tasks["look_up_in_worker"].cache_reason


def _read(uri: str) -> str:
    path = Path(uri)
    return path.read_text() if path.is_file() else ""
