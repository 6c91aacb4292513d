"""Terminate refuses what it cannot do safely: a run on another host, a run whose owner is
gone (reconciled instead), and a pid that now names another process (never signalled)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conveyor._internal.processes import stat_fields
from conveyor.metadata import CONTEXT_RUN, MetadataStore, connect
from conveyor.operations import ActionConflict, terminate_run
from conveyor.orchestrator.owner import owner_identity


@pytest.fixture
def metadata(tmp_path: Path) -> Iterator[MetadataStore]:
    store = connect(f"sqlite:///{tmp_path}/metadata.db")
    yield store
    store.close()


def _running(metadata: MetadataStore, run_id: str, **owner: Any) -> None:
    metadata.put_context(
        CONTEXT_RUN, run_id, {"state": "RUNNING", "started_at": 1.0, **owner_identity(), **owner}
    )


def test_a_run_on_another_host_is_refused(metadata: MetadataStore):
    _running(metadata, "far", host="another-host.example")
    with pytest.raises(ActionConflict, match=r"another-host\.example") as info:
        terminate_run(metadata, "far", wait_seconds=0)
    assert info.value.status == 409 and "that host" in info.value.fix
    assert metadata.find_context(CONTEXT_RUN, "far").properties["state"] == "RUNNING"


def test_a_run_whose_owner_is_gone_is_reconciled(metadata: MetadataStore):
    done = subprocess.Popen(["true"])
    done.wait()
    _running(metadata, "ghost", pid=done.pid, pid_start=1)
    with pytest.raises(ActionConflict, match="is gone; the run is now FAILED"):
        terminate_run(metadata, "ghost", wait_seconds=0)
    props = metadata.find_context(CONTEXT_RUN, "ghost").properties
    assert props["state"] == "FAILED" and "died" in props["error"]


def test_a_recycled_pid_is_never_signalled(metadata: MetadataStore):
    other = subprocess.Popen(["sleep", "30"])
    try:
        fields = stat_fields(other.pid)
        assert fields is not None
        # the run's owner had this pid once, but started at another time: another process
        _running(metadata, "recycled", pid=other.pid, pid_start=int(fields[19]) - 100)
        with pytest.raises(ActionConflict, match="is gone"):
            terminate_run(metadata, "recycled", wait_seconds=0)
        assert other.poll() is None  # still running: not signalled
        assert metadata.find_context(CONTEXT_RUN, "recycled").properties["state"] == "FAILED"
    finally:
        other.kill()
        other.wait()


def test_only_a_running_run_can_be_terminated(metadata: MetadataStore):
    metadata.put_context(CONTEXT_RUN, "over", {"state": "COMPLETE"})
    with pytest.raises(ActionConflict, match="COMPLETE, not RUNNING"):
        terminate_run(metadata, "over", wait_seconds=0)
