"""Conformance checks of ``log_metrics`` and ``get_metrics`` (included by testing.metadata)."""

from __future__ import annotations

from conveyor.errors import NotFoundError
from conveyor.metadata.entities import MetricRecord
from conveyor.testing._metadata_support import COMPLETE, MISSING_ID, StoreFactory, open_store

__all__ = ["METRIC_CHECKS"]


def check_metrics_round_trip(factory: StoreFactory) -> None:
    """Metrics of a run and of an execution read back exactly, filtered and in step order."""
    with open_store(factory) as (store, p):
        run = store.put_context(f"{p}.Run", "r")
        other = store.put_context(f"{p}.Run", "other")
        eid, _ = store.record_execution(f"{p}.T", "train", COMPLETE, contexts=[run.id])
        records = [
            MetricRecord(run.id, None, "loss", 1.0 / (s + 3), s, 1_700_000_000.125 + s)
            for s in (2, 0, 1)
        ]
        records += [
            MetricRecord(run.id, eid, "acc", 0.5, 0, 1_700_000_000.5),
            MetricRecord(None, eid, "loss", -2.5e-8, 7, 1_700_000_001.0),
            MetricRecord(other.id, None, "loss", 9.0, 0, 1_700_000_002.0),
        ]
        store.log_metrics(records)
        store.log_metrics([])
        got = store.get_metrics(context_id=run.id)
        want = [records[3], records[1], records[2], records[0]]
        assert got == want, f"get_metrics(context_id) returned {got!r}"
        assert all(type(m.value) is float and type(m.step) is int for m in got), got
        got = store.get_metrics(execution_id=eid)
        assert got == [records[3], records[4]], f"get_metrics(execution_id) returned {got!r}"
        assert store.get_metrics(context_id=run.id, names=["loss"]) == want[1:]
        assert store.get_metrics(context_id=run.id, execution_id=eid) == [records[3]]
        assert store.get_metrics(context_id=run.id, names=[]) == []
        assert store.get_metrics(context_id=run.id, names=["nope"]) == []


def check_log_metrics_rejects_bad_records_atomically(factory: StoreFactory) -> None:
    """Non-finite values, missing ids and unknown ids raise, and nothing of the batch is kept."""
    with open_store(factory) as (store, p):
        run = store.put_context(f"{p}.Run", "r")
        good = MetricRecord(run.id, None, "loss", 0.1, 0, 1.0)
        bad_batches: list[tuple[MetricRecord, type[Exception]]] = [
            (MetricRecord(run.id, None, "loss", float("nan"), 1, 1.0), ValueError),
            (MetricRecord(run.id, None, "loss", float("inf"), 1, 1.0), ValueError),
            (MetricRecord(None, None, "loss", 0.2, 1, 1.0), ValueError),
            (MetricRecord(run.id, None, "", 0.2, 1, 1.0), ValueError),
            (MetricRecord(MISSING_ID, None, "loss", 0.2, 1, 1.0), NotFoundError),
            (MetricRecord(run.id, MISSING_ID, "loss", 0.2, 1, 1.0), NotFoundError),
        ]
        for bad, error in bad_batches:
            try:
                store.log_metrics([good, bad])
            except error:
                pass
            else:
                raise AssertionError(f"log_metrics accepted {bad!r}; expected {error.__name__}")
            assert store.get_metrics(context_id=run.id) == [], f"{bad!r} left rows behind"


def check_log_metrics_many_in_one_call(factory: StoreFactory) -> None:
    """A large batch (more rows than one statement's parameter limit) is kept whole."""
    with open_store(factory) as (store, p):
        run = store.put_context(f"{p}.Run", "r")
        store.log_metrics([MetricRecord(run.id, None, "x", float(s), s, 0.0) for s in range(5000)])
        got = store.get_metrics(context_id=run.id, names=["x"])
        assert [m.step for m in got] == list(range(5000)), "steps missing or out of order"
        assert got[-1].value == 4999.0


def check_metric_summaries_and_points(factory: StoreFactory) -> None:
    """Per-name summaries (count, steps, last value, who logged) and bare point series."""
    with open_store(factory) as (store, p):
        run = store.put_context(f"{p}.Run", "r")
        other = store.put_context(f"{p}.Run", "other")
        eid, _ = store.record_execution(f"{p}.T", "train", COMPLETE, contexts=[run.id])
        store.log_metrics(
            [MetricRecord(run.id, None, "loss", 5.0 - s, s, 100.0 + s) for s in (3, 1, 2)]
            + [
                MetricRecord(run.id, eid, "loss", 9.0, 4, 90.0),
                MetricRecord(run.id, eid, "acc", 0.25, 0, 50.0),
                MetricRecord(run.id, eid, "acc", 0.5, 0, 51.0),  # same step: last logged wins
                MetricRecord(other.id, None, "loss", 7.0, 9, 1.0),
            ]
        )
        got = store.metric_summaries(run.id)
        assert [s["name"] for s in got] == ["acc", "loss"], got
        acc, loss = got
        assert (acc["count"], acc["first_step"], acc["last_step"]) == (2, 0, 0), acc
        assert acc["last_value"] == 0.5 and acc["execution_ids"] == [eid], acc
        assert (loss["count"], loss["first_step"], loss["last_step"]) == (4, 1, 4), loss
        assert loss["last_value"] == 9.0 and (loss["min"], loss["max"]) == (2.0, 9.0), loss
        assert loss["execution_ids"] == [None, eid], loss
        assert store.metric_summaries(MISSING_ID) == []

        points = store.metric_points(run.id, ["loss", "acc", "nope"])
        assert set(points) == {"loss", "acc"}, points
        assert points["loss"] == [(1, 4.0, 101.0), (2, 3.0, 102.0), (3, 2.0, 103.0), (4, 9.0, 90.0)]
        assert all(type(s) is int and type(v) is float for s, v, _ in points["loss"])
        by_time = store.metric_points(run.id, ["loss"], by_time=True)["loss"]
        assert [s for s, _, _ in by_time] == [4, 1, 2, 3], by_time
        assert store.metric_points(run.id, []) == {}


def check_metric_series_keeps_extremes(factory: StoreFactory) -> None:
    """A long series is cut to the lowest and highest point per x range: a spike survives,
    at most max_points are kept, in x order; a short one comes whole."""
    with open_store(factory) as (store, p):
        run = store.put_context(f"{p}.Run", "r")
        n = 1000
        values = {s: float(s % 7) for s in range(n)}
        values[613], values[77] = 500.0, -500.0
        records = [MetricRecord(run.id, None, "x", v, s, 10.0 + s / 10) for s, v in values.items()]
        records += [MetricRecord(run.id, None, "flat", 1.0, s, 10.0 + s) for s in range(n)]
        records += [MetricRecord(run.id, None, "short", 2.0 - s, s, 5.0 - s) for s in range(3)]
        store.log_metrics(records[::-1])
        got = store.metric_series(run.id, ["x", "flat", "short", "nope"], max_points=40)
        assert set(got) == {"x", "flat", "short"}, got
        x = got["x"]
        assert (x["count"], x["min"], x["max"], x["first_time"]) == (n, -500.0, 500.0, 10.0), x
        steps = [pt[0] for pt in x["points"]]
        assert 20 <= len(steps) <= 40 and steps == sorted(steps), steps
        assert (613, 500.0, 71.3) in x["points"] and (77, -500.0, 17.7) in x["points"], x
        assert all(values[s] == v for s, v, _ in x["points"])
        assert [pt[0] for pt in got["flat"]["points"]] == list(range(0, n, n // 20))
        assert got["short"]["points"] == [(0, 2.0, 5.0), (1, 1.0, 4.0), (2, 0.0, 3.0)]
        by_time = store.metric_series(run.id, ["short"], max_points=40, by_time=True)["short"]
        assert [pt[0] for pt in by_time["points"]] == [2, 1, 0], by_time
        timed = store.metric_series(run.id, ["x"], max_points=40, by_time=True)["x"]["points"]
        assert len(timed) <= 40 and (613, 500.0, 71.3) in timed, timed


METRIC_CHECKS = [
    check_metrics_round_trip,
    check_log_metrics_rejects_bad_records_atomically,
    check_log_metrics_many_in_one_call,
    check_metric_summaries_and_points,
    check_metric_series_keeps_extremes,
]
"""The metric checks, in the order they run."""
