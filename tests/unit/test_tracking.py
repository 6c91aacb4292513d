"""conveyor.tracking: buffered metric logging into the metadata store, never crashing training."""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from conveyor import tracking
from conveyor.errors import ConveyorError, StoreError
from conveyor.metadata import CONTEXT_EXPERIMENT, CONTEXT_RUN, MetadataStore, connect
from conveyor.metadata.entities import MetricRecord


class SpyStore:
    """Wraps a store, counts metric transactions and fails on demand."""

    def __init__(self, inner: MetadataStore) -> None:
        self.inner = inner
        self.batches: list[int] = []
        self.fail = False

    def log_metrics(
        self, records: Sequence[MetricRecord], *, context_properties: Any = None
    ) -> None:
        if self.fail:
            raise StoreError("database is locked")
        if records:
            self.batches.append(len(records))
        self.inner.log_metrics(records, context_properties=context_properties)

    def update_context(self, context_id: int, properties: Any) -> Any:
        if self.fail:
            raise StoreError("database is locked")
        return self.inner.update_context(context_id, properties)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def store() -> Iterator[MetadataStore]:
    s = connect("sqlite://")
    yield s
    s.close()


@pytest.fixture
def spy(store: MetadataStore) -> SpyStore:
    return SpyStore(store)


@pytest.fixture(autouse=True)
def _no_active_run() -> Iterator[None]:
    yield
    tracking.end_run()


def _start(spy: SpyStore, **kw: Any) -> tracking.TrackedRun:
    return tracking.start_run(metadata=spy, **kw)  # type: ignore[arg-type]


def test_tracking_many_calls_are_written_in_few_transactions(spy: SpyStore) -> None:
    with _start(spy, batch_size=1000, flush_interval=60) as run:
        for step in range(5000):
            run.log_metric("loss", 1 / (step + 1), step)
    assert sum(spy.batches) == 5000
    assert len(spy.batches) <= 6, spy.batches


def test_tracking_values_round_trip_with_steps_and_params(
    spy: SpyStore, store: MetadataStore
) -> None:
    with _start(spy, name="sweep", experiment="lr", params={"lr": 0.1}) as run:
        run.log_metric("loss", 0.5)
        run.log_metric("loss", 0.25)
        run.log_metrics({"acc": 0.9, "f1": 1}, step=10)
        run.log_metric("loss", 0.125, step=7)
        run.log_params({"layers": [64, 64]})
    ctx = store.get_context(run.context_id)
    assert ctx.type_name == CONTEXT_RUN and ctx.name == run.run_id
    assert run.run_id.startswith("sweep-")
    props = ctx.properties
    assert props["state"] == "COMPLETE" and props["launcher"] == "python"
    assert props["experiment"] == "lr"
    assert props["parameters"] == {"lr": 0.1, "layers": [64, 64]}
    assert props["finished_at"] >= props["started_at"]
    exp = store.find_context(CONTEXT_EXPERIMENT, "lr")
    assert exp is not None and [c.id for c in store.get_parent_contexts(ctx.id)] == [exp.id]
    got = [(m.name, m.step, m.value) for m in store.get_metrics(context_id=ctx.id)]
    assert got == [
        ("acc", 10, 0.9),
        ("f1", 10, 1.0),
        ("loss", 0, 0.5),
        ("loss", 1, 0.25),
        ("loss", 7, 0.125),
    ]


def test_tracking_run_fails_when_the_block_raises(spy: SpyStore, store: MetadataStore) -> None:
    with pytest.raises(KeyError), _start(spy) as run:
        run.log_metric("loss", 1.0)
        raise KeyError("boom")
    assert store.get_context(run.context_id).properties["state"] == "FAILED"
    assert len(store.get_metrics(context_id=run.context_id)) == 1


def test_tracking_background_thread_flushes_on_interval(spy: SpyStore) -> None:
    run = _start(spy, flush_interval=0.02)
    run.log_metric("loss", 1.0)
    for _ in range(200):
        if spy.batches:
            break
        time.sleep(0.01)
    assert spy.batches == [1]
    run.end()


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_tracking_rejects_non_finite_values(spy: SpyStore, value: float) -> None:
    with _start(spy) as run:
        with pytest.raises(ValueError, match="finite"):
            run.log_metric("loss", value)
        with pytest.raises(ValueError, match="finite"):
            run.log_metrics({"ok": 1.0, "loss": value})
    assert spy.batches == []


@pytest.mark.parametrize("value", ["0.5", None, True])
def test_tracking_rejects_non_numbers(spy: SpyStore, value: object) -> None:
    with _start(spy) as run, pytest.raises(TypeError, match="must be a number"):
        run.log_metric("loss", value)  # type: ignore[arg-type]


def test_tracking_store_failure_does_not_raise_and_keeps_values(
    spy: SpyStore, store: MetadataStore, caplog: pytest.LogCaptureFixture
) -> None:
    run = _start(spy, flush_interval=60)
    spy.fail = True
    with caplog.at_level(logging.WARNING, logger="conveyor.tracking"):
        run.log_metric("loss", 1.0)
        run.log_params({"lr": 0.2})
        assert run.flush() is False
        run.log_metric("loss", 0.5)
        assert run.flush() is False
    assert len([r for r in caplog.records if "keeping them" in r.message]) == 1  # warned once
    spy.fail = False
    assert run.flush() is True
    assert [m.value for m in store.get_metrics(context_id=run.context_id)] == [1.0, 0.5]
    assert store.get_context(run.context_id).properties["parameters"] == {"lr": 0.2}
    run.end()


def test_tracking_end_with_a_dead_store_does_not_raise(spy: SpyStore) -> None:
    run = _start(spy, flush_interval=60)
    run.log_metric("loss", 1.0)
    spy.fail = True
    run.end()
    assert tracking.active_run() is None


def test_tracking_module_functions_use_one_implicit_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CONVEYOR_HOME", str(tmp_path))
    monkeypatch.delenv("CONVEYOR_METADATA_URL", raising=False)
    tracking.log_params({"lr": 0.1})
    tracking.log_metric("loss", 0.5)
    tracking.log_metrics({"acc": 0.75})
    run = tracking.active_run()
    assert run is not None
    with pytest.raises(ConveyorError, match="still active"):
        tracking.start_run()
    tracking.end_run()
    with pytest.raises(ConveyorError, match="has ended"):
        run.log_metric("loss", 0.1)
    store = connect(f"sqlite:///{tmp_path}/metadata.db")
    try:
        ctx = store.get_context(run.context_id)
        assert ctx.properties["state"] == "COMPLETE"
        assert ctx.properties["parameters"] == {"lr": 0.1}
        assert len(store.get_metrics(context_id=ctx.id)) == 2
    finally:
        store.close()


SCRIPT = """
import conveyor.tracking as t
t.log_params({"lr": 0.1})
for step in range(1000):
    t.log_metric("loss", 1.0 / (step + 1))
{tail}
"""


@pytest.mark.parametrize(
    ("tail", "state"), [("", "COMPLETE"), ("raise SystemExit('x')", "COMPLETE"), ("1/0", "FAILED")]
)
def test_tracking_flushes_at_interpreter_exit(tmp_path: Path, tail: str, state: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env["CONVEYOR_HOME"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.replace("{tail}", tail)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in proc.stderr or tail == "1/0", proc.stderr
    store = connect(f"sqlite:///{tmp_path}/metadata.db")
    try:
        [ctx] = store.list_contexts(CONTEXT_RUN)
        assert ctx.properties["state"] == state
        assert ctx.properties["launcher"] == "python"
        got = store.get_metrics(context_id=ctx.id)
        assert [m.step for m in got] == list(range(1000))
    finally:
        store.close()


def test_tracking_records_the_final_values_as_a_pipeline_run_does(
    spy: SpyStore, store: MetadataStore
) -> None:
    from conveyor.metadata.runs import METRICS, RunQuery, parse_predicate, run_metric_summary

    with _start(spy, name="summary", flush_interval=60) as run:
        run.log_metric("loss", 0.5)
        run.log_metric("loss", 0.125, step=7)
        run.log_metric("loss", 0.9, step=3)  # logged late, but not the last step
        run.log_metrics({"acc": 0.75}, step=2)
        assert run.flush()
        running = store.get_context(run.context_id).properties
        assert running[METRICS] == {"loss": 0.125, "acc": 0.75}  # filterable while it runs
        run.log_metric("acc", 0.8)
    props = store.get_context(run.context_id).properties
    assert props[METRICS] == {"loss": 0.125, "acc": 0.8}
    assert props[METRICS] == run_metric_summary(store, run.context_id)
    found = store.search_runs(RunQuery(metrics=(parse_predicate("acc>0.79"),)))
    assert [c.name for c in found.runs] == [run.run_id]
