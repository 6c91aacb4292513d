"""Conformance checks for MetadataStore implementations, run like scikit-learn's check_estimator.

Each check takes a factory returning an open store, exercises one behaviour and raises
``AssertionError`` if it is wrong. Checks name everything they create with a fresh prefix, so
they also pass against a store that already holds data (a shared PostgreSQL schema, say).

Example:
    >>> from conveyor.metadata import connect
    >>> check_metadata_store(lambda: connect("sqlite://"))

With pytest, one test per check::

    @pytest.mark.parametrize(("name", "check"), list(metadata_store_checks()))
    def test_my_store(name, check):
        check(lambda: MyStore(...))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC

from conveyor.errors import NotFoundError
from conveyor.metadata import ArtifactState, EventType, ExecutionState, MetadataStore
from conveyor.testing._metadata_support import (
    COMPLETE,
    MISSING_ID,
    StoreFactory,
    artifact,
    check_lineage_cases,
    ids,
    open_store,
)
from conveyor.testing._metrics_checks import METRIC_CHECKS
from conveyor.testing._run_search_checks import RUN_SEARCH_CHECKS

__all__ = ["CHECKS", "Check", "StoreFactory", "check_metadata_store", "metadata_store_checks"]

Check = Callable[[StoreFactory], None]

CHECKS: list[Check] = []
"""Every check, in the order they run."""


def _check(fn: Check) -> Check:
    CHECKS.append(fn)
    return fn


def metadata_store_checks() -> Iterator[tuple[str, Check]]:
    """Yield ``(name, check)`` for every check, e.g. to parametrize a test."""
    for check in CHECKS:
        yield check.__name__, check


def check_metadata_store(factory: StoreFactory) -> None:
    """Run every check against stores made by ``factory``.

    Args:
        factory: returns a new open store each time it is called (it is closed after use).

    Raises:
        AssertionError: from the first check that fails, prefixed with its name.
    """
    for name, check in metadata_store_checks():
        try:
            check(factory)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc


# --- contexts -------------------------------------------------------------------------------
@_check
def check_is_a_metadata_store(factory: StoreFactory) -> None:
    """The store satisfies the runtime-checkable protocol and has a ``uri``."""
    with open_store(factory) as (store, _):
        assert isinstance(store, MetadataStore), f"{store!r} lacks MetadataStore methods"
        assert isinstance(store.uri, str), f"store.uri is {store.uri!r}, not a str"


@_check
def check_context_get_or_create(factory: StoreFactory) -> None:
    """put_context returns the existing context for a known (type, name)."""
    with open_store(factory) as (store, p):
        first = store.put_context(f"{p}.Run", "r1")
        again = store.put_context(f"{p}.Run", "r1")
        other = store.put_context(f"{p}.Run", "r2")
        assert again.id == first.id, "put_context created a second context for the same name"
        assert other.id != first.id
        assert store.find_context(f"{p}.Run", "r1") == first
        assert store.find_context(f"{p}.Run", "nope") is None
        assert store.find_context(f"{p}.Unknown", "r1") is None
        assert store.get_context(first.id) == first
        assert (first.type_name, first.name) == (f"{p}.Run", "r1")


@_check
def check_context_properties_merge(factory: StoreFactory) -> None:
    """put_context and update_context merge properties; top-level keys replace."""
    with open_store(factory) as (store, p):
        ctx = store.put_context(f"{p}.Run", "r", {"a": 1, "b": {"x": 1}})
        merged = store.put_context(f"{p}.Run", "r", {"b": {"y": 2}, "c": 3})
        assert merged.properties == {"a": 1, "b": {"y": 2}, "c": 3}, merged.properties
        assert merged.id == ctx.id
        unchanged = store.put_context(f"{p}.Run", "r")
        assert unchanged.properties == merged.properties, "put_context without props changed"
        updated = store.update_context(ctx.id, {"a": "one"})
        assert updated.properties == {"a": "one", "b": {"y": 2}, "c": 3}, updated.properties
        assert store.get_context(ctx.id) == updated
        assert updated.updated_at >= updated.created_at


@_check
def check_parent_contexts(factory: StoreFactory) -> None:
    """Parents are recorded once and children are listed under their parent."""
    with open_store(factory) as (store, p):
        exp = store.put_context(f"{p}.Experiment", "e")
        pipe = store.put_context(f"{p}.Pipeline", "p")
        run1 = store.put_context(f"{p}.Run", "r1", parents=[exp.id, pipe.id])
        run2 = store.put_context(f"{p}.Run", "r2", parents=[exp.id])
        store.put_context(f"{p}.Run", "r1", parents=[exp.id])  # again: no duplicate
        store.put_context(f"{p}.Run", "r3")
        assert ids(store.get_parent_contexts(run1.id)) == sorted([exp.id, pipe.id])
        assert store.get_parent_contexts(exp.id) == []
        children = store.list_contexts(f"{p}.Run", parent_id=exp.id)
        assert ids(children) == [run2.id, run1.id], ids(children)
        assert ids(store.list_contexts(f"{p}.Run", parent_id=pipe.id)) == [run1.id]


@_check
def check_list_contexts_newest_first(factory: StoreFactory) -> None:
    """list_contexts filters by type, orders newest first and pages with limit/offset."""
    with open_store(factory) as (store, p):
        made = [store.put_context(f"{p}.Run", f"r{i}").id for i in range(4)]
        store.put_context(f"{p}.Other", "x")
        newest_first = made[::-1]
        assert ids(store.list_contexts(f"{p}.Run")) == newest_first
        assert ids(store.list_contexts(f"{p}.Run", limit=2)) == newest_first[:2]
        assert ids(store.list_contexts(f"{p}.Run", limit=2, offset=1)) == newest_first[1:3]
        assert store.list_contexts(f"{p}.Unknown") == []


# --- executions -----------------------------------------------------------------------------
@_check
def check_start_and_finish_execution(factory: StoreFactory) -> None:
    """start_execution records inputs; finish_execution adds outputs, state, props, key."""
    with open_store(factory) as (store, p):
        run = store.put_context(f"{p}.Run", "r")
        _, [data] = store.record_execution(
            f"{p}.Importer", "import", COMPLETE, outputs=[artifact("data", p)]
        )
        eid = store.start_execution(
            f"{p}.Trainer",
            "train",
            contexts=[run.id],
            inputs=[("data", data.id)],
            properties={"lr": 0.1},
        )
        started = store.get_execution(eid)
        assert started.state is ExecutionState.RUNNING, started.state
        assert (started.type_name, started.name, started.cache_key) == (
            f"{p}.Trainer",
            "train",
            None,
        )
        outputs = store.finish_execution(
            eid,
            COMPLETE,
            outputs=[artifact("model", p, fingerprint="abc", size_bytes=3), artifact("log", p)],
            properties={"epochs": 2},
            cache_key=f"{p}-key",
        )
        assert [a.uri for a in outputs] == [f"mem://{p}/model", f"mem://{p}/log"]
        assert (outputs[0].fingerprint, outputs[0].size_bytes) == ("abc", 3)
        assert outputs[0].state is ArtifactState.LIVE
        done = store.get_execution(eid)
        assert done.state is COMPLETE
        assert done.properties == {"lr": 0.1, "epochs": 2}, done.properties
        assert done.cache_key == f"{p}-key"
        got = {(e.type, e.path, e.artifact_id) for e in store.get_events(execution_ids=[eid])}
        assert got == {
            (EventType.INPUT, "data", data.id),
            (EventType.OUTPUT, "model", outputs[0].id),
            (EventType.OUTPUT, "log", outputs[1].id),
        }, got
        assert sorted(ids(store.list_artifacts(context_id=run.id))) == sorted(ids(outputs))
        assert ids(store.get_execution_contexts(eid)) == [run.id]


@_check
def check_record_execution(factory: StoreFactory) -> None:
    """record_execution writes what start + finish write; records read back unchanged."""
    with open_store(factory) as (store, p):
        run = store.put_context(f"{p}.Run", "r")
        exp = store.put_context(f"{p}.Experiment", "e")
        _, [data] = store.record_execution(
            f"{p}.Importer", "import", COMPLETE, outputs=[artifact("data", p)]
        )
        eid, [model] = store.record_execution(
            f"{p}.Trainer",
            "train",
            COMPLETE,
            contexts=[run.id, exp.id, run.id],
            inputs=[("data", data.id)],
            outputs=[artifact("model", p, name="m", properties={"acc": 0.5})],
            properties={"lr": 0.1},
            cache_key=f"{p}-k",
        )
        assert store.get_artifact(model.id) == model, "artifact read back differs"
        execution = store.get_execution(eid)
        assert (execution.state, execution.cache_key, dict(execution.properties)) == (
            COMPLETE,
            f"{p}-k",
            {"lr": 0.1},
        )
        assert ids(store.get_execution_contexts(eid)) == sorted([run.id, exp.id])
        assert ids(store.list_artifacts(context_id=exp.id)) == [model.id]
        events = store.get_events(artifact_ids=[model.id])
        assert [(e.execution_id, e.type, e.path) for e in events] == [
            (eid, EventType.OUTPUT, "model")
        ]


@_check
def check_reused_outputs(factory: StoreFactory) -> None:
    """A cache hit adds OUTPUT events to existing artifacts instead of new artifacts."""
    with open_store(factory) as (store, p):
        run1 = store.put_context(f"{p}.Run", "r1")
        run2 = store.put_context(f"{p}.Run", "r2")
        first, [model] = store.record_execution(
            f"{p}.Trainer", "train", COMPLETE, contexts=[run1.id], outputs=[artifact("model", p)]
        )
        hit, new = store.record_execution(
            f"{p}.Trainer",
            "train",
            ExecutionState.CACHED,
            contexts=[run2.id],
            reused_outputs=[("model", model.id)],
        )
        assert new == [], "a cache hit created artifacts"
        assert ids(store.list_artifacts(context_id=run2.id)) == [model.id]
        producers = {
            e.execution_id for e in store.get_events(artifact_ids=[model.id]) if e.type.is_output
        }
        assert producers == {first, hit}, producers
        later = store.start_execution(f"{p}.Trainer", "train", contexts=[run2.id])
        assert (
            store.finish_execution(
                later, ExecutionState.CACHED, reused_outputs=[("model", model.id)]
            )
            == []
        )
        assert ids(store.list_artifacts(context_id=run2.id)) == [model.id], "duplicate attribution"


@_check
def check_update_execution(factory: StoreFactory) -> None:
    """update_execution changes the state and merges properties."""
    with open_store(factory) as (store, p):
        eid = store.start_execution(f"{p}.T", "t", properties={"a": 1, "b": 1})
        store.update_execution(eid, properties={"b": 2})
        assert store.get_execution(eid).properties == {"a": 1, "b": 2}
        store.update_execution(eid, state=ExecutionState.FAILED)
        failed = store.get_execution(eid)
        assert failed.state is ExecutionState.FAILED
        assert failed.properties == {"a": 1, "b": 2}


@_check
def check_list_executions_filters(factory: StoreFactory) -> None:
    """list_executions combines its filters and orders newest first."""
    with open_store(factory) as (store, p):
        run = store.put_context(f"{p}.Run", "r")
        a = store.start_execution(f"{p}.T", f"{p}-a", contexts=[run.id], cache_key=f"{p}-k")
        b, _ = store.record_execution(f"{p}.T", f"{p}-b", COMPLETE, contexts=[run.id])
        c, _ = store.record_execution(f"{p}.T", f"{p}-a", ExecutionState.FAILED, contexts=[run.id])
        d, _ = store.record_execution(f"{p}.T", f"{p}-a", COMPLETE)
        assert ids(store.list_executions(context_id=run.id)) == [c, b, a]
        assert ids(store.list_executions(name=f"{p}-a")) == [d, c, a]
        assert ids(store.list_executions(context_id=run.id, name=f"{p}-a")) == [c, a]
        states = [ExecutionState.COMPLETE, ExecutionState.FAILED]
        assert ids(store.list_executions(context_id=run.id, states=states)) == [c, b]
        assert ids(store.list_executions(name=f"{p}-a", states=[])) == []
        assert ids(store.list_executions(cache_key=f"{p}-k")) == [a]
        assert ids(store.list_executions(context_id=run.id, limit=2)) == [c, b]


@_check
def check_find_cached_execution_newest_complete(factory: StoreFactory) -> None:
    """find_cached_execution returns the newest COMPLETE execution with the key, only."""
    with open_store(factory) as (store, p):
        key = f"{p}-key"
        assert store.find_cached_execution(key) is None
        store.record_execution(f"{p}.T", "t", ExecutionState.FAILED, cache_key=key)
        assert store.find_cached_execution(key) is None, "a FAILED execution was a cache hit"
        old, _ = store.record_execution(f"{p}.T", "t", COMPLETE, cache_key=key)
        new, _ = store.record_execution(f"{p}.T", "t", COMPLETE, cache_key=key)
        store.record_execution(f"{p}.T", "t", ExecutionState.CACHED, cache_key=key)
        store.start_execution(f"{p}.T", "t", cache_key=key)
        store.record_execution(f"{p}.T", "t", COMPLETE, cache_key=f"{p}-other")
        found = store.find_cached_execution(key)
        assert found is not None and found.id == new, (found, old, new)
        assert found.state is COMPLETE


# --- artifacts ------------------------------------------------------------------------------
@_check
def check_get_artifacts_ignores_missing(factory: StoreFactory) -> None:
    """get_artifacts returns the existing ones in id order, once each."""
    with open_store(factory) as (store, p):
        _, made = store.record_execution(
            f"{p}.T", "t", COMPLETE, outputs=[artifact(k, p) for k in ("a", "b", "c")]
        )
        made_ids = ids(made)
        got = store.get_artifacts([made_ids[2], MISSING_ID, made_ids[0], made_ids[2]])
        assert ids(got) == sorted([made_ids[0], made_ids[2]]), ids(got)
        assert got == sorted([made[0], made[2]], key=lambda r: r.id), "records differ"
        assert store.get_artifacts([]) == []


@_check
def check_list_artifacts_filters(factory: StoreFactory) -> None:
    """list_artifacts filters by context and type, newest first, with a limit."""
    with open_store(factory) as (store, p):
        run = store.put_context(f"{p}.Run", "r")
        _, [a, b] = store.record_execution(
            f"{p}.T",
            "t",
            COMPLETE,
            contexts=[run.id],
            outputs=[artifact("a", p), artifact("b", p, type_name=f"{p}.Model")],
        )
        _, [c] = store.record_execution(
            f"{p}.T", "t", COMPLETE, outputs=[artifact("c", p, type_name=f"{p}.Model")]
        )
        assert ids(store.list_artifacts(context_id=run.id)) == [b.id, a.id]
        assert ids(store.list_artifacts(type_name=f"{p}.Model")) == [c.id, b.id]
        assert ids(store.list_artifacts(context_id=run.id, type_name=f"{p}.Model")) == [b.id]
        assert ids(store.list_artifacts(type_name=f"{p}.Model", limit=1)) == [c.id]
        assert store.list_artifacts(type_name=f"{p}.Unknown") == []


@_check
def check_set_artifact_state(factory: StoreFactory) -> None:
    """set_artifact_state changes the state of every given artifact."""
    with open_store(factory) as (store, p):
        _, [a, b] = store.record_execution(
            f"{p}.T", "t", COMPLETE, outputs=[artifact("a", p), artifact("b", p)]
        )
        store.set_artifact_state([a.id], ArtifactState.ABANDONED)
        assert store.get_artifact(a.id).state is ArtifactState.ABANDONED
        assert store.get_artifact(b.id).state is ArtifactState.LIVE
        store.set_artifact_state([a.id, b.id], ArtifactState.DELETED)
        assert {r.state for r in store.get_artifacts([a.id, b.id])} == {ArtifactState.DELETED}


@_check
def check_missing_ids_raise_not_found(factory: StoreFactory) -> None:
    """Reading or changing an unknown id raises NotFoundError (also a LookupError)."""
    with open_store(factory) as (store, p):
        calls: dict[str, Callable[[], object]] = {
            "get_artifact": lambda: store.get_artifact(MISSING_ID),
            "get_execution": lambda: store.get_execution(MISSING_ID),
            "get_context": lambda: store.get_context(MISSING_ID),
            "update_context": lambda: store.update_context(MISSING_ID, {"a": 1}),
            "update_execution": lambda: store.update_execution(
                MISSING_ID, state=ExecutionState.FAILED
            ),
            "finish_execution": lambda: store.finish_execution(
                MISSING_ID, COMPLETE, outputs=[artifact("x", p)]
            ),
            "lineage": lambda: store.lineage(MISSING_ID),
            "set_artifact_state": lambda: store.set_artifact_state(
                [MISSING_ID], ArtifactState.DELETED
            ),
        }
        for name, call in calls.items():
            try:
                call()
            except NotFoundError as exc:
                assert isinstance(exc, LookupError)
            else:
                raise AssertionError(f"{name} with an unknown id did not raise NotFoundError")
        assert store.list_artifacts(type_name=f"{p}.Data") == [], "finish_execution left rows"


@_check
def check_json_properties_round_trip(factory: StoreFactory) -> None:
    """Properties keep nested dicts, lists, unicode, floats, ints, bools and None exactly."""
    props = {
        "nested": {"a": {"b": [1, 2.5, {"c": None}]}, "empty": {}},
        "unicode": "héllo wörld 漢字 🚀",
        "floats": [0.1, 1.0, -2.5e-8, 1e300, 3.141592653589793],
        "ints": [0, -1, 2**53 + 1],
        "flags": [True, False],
        "none": None,
        "ключ": "значение",
    }
    with open_store(factory) as (store, p):
        ctx = store.put_context(f"{p}.Run", "r", props)
        eid, [art] = store.record_execution(
            f"{p}.T", "t", COMPLETE, properties=props, outputs=[artifact("a", p, properties=props)]
        )
        for what, got in (
            ("context", store.get_context(ctx.id).properties),
            ("execution", store.get_execution(eid).properties),
            ("artifact", store.get_artifact(art.id).properties),
        ):
            assert got == props, f"{what} properties changed: {got!r}"
            assert isinstance(got["floats"][1], float), f"{what}: 1.0 came back as an int"
            assert type(got["flags"][0]) is bool, f"{what}: True came back as {got['flags'][0]!r}"


@_check
def check_timestamps_are_utc_aware(factory: StoreFactory) -> None:
    """Records carry timezone-aware UTC timestamps."""
    with open_store(factory) as (store, p):
        ctx = store.put_context(f"{p}.Run", "r")
        eid, [art] = store.record_execution(f"{p}.T", "t", COMPLETE, outputs=[artifact("a", p)])
        stamps = [
            ctx.created_at,
            store.get_context(ctx.id).updated_at,
            store.get_execution(eid).created_at,
            store.get_artifact(art.id).updated_at,
            store.get_events(execution_ids=[eid])[0].created_at,
        ]
        for stamp in stamps:
            assert stamp.tzinfo is not None and stamp.utcoffset() == UTC.utcoffset(None), stamp


# --- lineage --------------------------------------------------------------------------------
@_check
def check_lineage_upstream(factory: StoreFactory) -> None:
    """Upstream lineage follows producers and their inputs, and nothing else."""
    check_lineage_cases(factory, "upstream")


@_check
def check_lineage_downstream(factory: StoreFactory) -> None:
    """Downstream lineage follows consumers and their outputs, and nothing else."""
    check_lineage_cases(factory, "downstream")


@_check
def check_lineage_max_depth(factory: StoreFactory) -> None:
    """max_depth bounds the executions along each path (0: the artifact alone)."""
    check_lineage_cases(factory, "max_depth")


# --- metrics (conveyor.testing._metrics_checks) ---------------------------------------------
for _metric_check in METRIC_CHECKS:
    _check(_metric_check)

# --- run search (conveyor.testing._run_search_checks) ---------------------------------------
for _run_check in RUN_SEARCH_CHECKS:
    _check(_run_check)


@_check
def check_close_is_idempotent(factory: StoreFactory) -> None:
    """close() can be called twice."""
    store = factory()
    store.close()
    store.close()
