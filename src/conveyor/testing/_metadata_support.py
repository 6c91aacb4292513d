"""Helpers of the metadata store conformance checks: store handling and a small lineage graph."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from conveyor.metadata import ArtifactRecord, ExecutionState, MetadataStore, NewArtifact

__all__ = [
    "COMPLETE",
    "MISSING_ID",
    "StoreFactory",
    "artifact",
    "check_lineage_cases",
    "ids",
    "raises",
]

E = TypeVar("E", bound=BaseException)

StoreFactory = Callable[[], MetadataStore]
"""Returns a new open store each time it is called."""

COMPLETE = ExecutionState.COMPLETE
MISSING_ID = 987_654_321_012
"""An id no check creates (fits a 64-bit column)."""


@contextmanager
def open_store(factory: StoreFactory) -> Iterator[tuple[MetadataStore, str]]:
    """A store from ``factory`` and a fresh name prefix; the store is closed afterwards."""
    store = factory()
    try:
        yield store, f"t{uuid.uuid4().hex[:12]}"
    finally:
        store.close()


def artifact(key: str, prefix: str, **fields: Any) -> NewArtifact:
    """A new artifact under ``key`` with a unique URI (type ``<prefix>.Data`` by default)."""
    fields.setdefault("type_name", f"{prefix}.Data")
    return NewArtifact(key=key, uri=f"mem://{prefix}/{key}", **fields)


def ids(records: Iterable[Any]) -> list[int]:
    """The ``id`` of each record, in order."""
    return [r.id for r in records]


# --- lineage --------------------------------------------------------------------------------
# The diamond: raw -> split -> (train, test); train -> fit -> model; (model, test) -> eval ->
# metrics; plus raw -> other -> junk, downstream of raw but not upstream of metrics.
DIAMOND = (
    ("ingest", "", "raw"),
    ("split", "raw", "train test"),
    ("fit", "train", "model"),
    ("eval", "model test", "metrics"),
    ("other", "raw", "junk"),
)
# (artifact, direction, max_depth) -> (executions, artifacts, number of events) in the graph.
Case = tuple[str, Literal["upstream", "downstream"], int | None, str, str, int]
LINEAGE_CASES: dict[str, list[Case]] = {
    "upstream": [
        ("metrics", "upstream", None, "ingest split fit eval", "raw train test model metrics", 9),
        ("raw", "upstream", None, "ingest", "raw", 1),
    ],
    "downstream": [
        (
            "raw",
            "downstream",
            None,
            "split fit eval other",
            "raw train test model metrics junk",
            10,
        ),
        ("model", "downstream", None, "eval", "model metrics", 2),
        ("metrics", "downstream", None, "", "metrics", 0),
    ],
    "max_depth": [
        ("metrics", "upstream", 0, "", "metrics", 0),
        ("metrics", "upstream", 1, "eval", "model test metrics", 3),
        ("metrics", "upstream", 2, "split fit eval", "raw train test model metrics", 8),
        ("raw", "downstream", 1, "split other", "raw train test junk", 5),
    ],
}


def check_lineage_cases(factory: StoreFactory, cases: str) -> None:
    """Record the diamond, then check every lineage query of ``LINEAGE_CASES[cases]``."""
    with open_store(factory) as (store, p):
        executions: dict[int, str] = {}
        artifacts: dict[str, int] = {}
        for name, inputs, outputs in DIAMOND:
            eid, made = store.record_execution(
                f"{p}.Step",
                name,
                COMPLETE,
                inputs=[(key, artifacts[key]) for key in inputs.split()],
                outputs=[artifact(key, p) for key in outputs.split()],
            )
            executions[eid] = name
            artifacts.update({key: rec.id for key, rec in zip(outputs.split(), made, strict=True)})
        names = {v: k for k, v in artifacts.items()}
        for start, direction, depth, want_x, want_a, want_events in LINEAGE_CASES[cases]:
            graph = store.lineage(artifacts[start], direction, max_depth=depth)
            got = (
                {executions.get(x.id, f"foreign {x.id}") for x in graph.executions},
                {names.get(a.id, f"foreign {a.id}") for a in graph.artifacts},
                len(graph.events),
            )
            case = f"lineage({start}, {direction}, max_depth={depth})"
            assert got == (set(want_x.split()), set(want_a.split()), want_events), (case, got)
            got_a, got_x = ids(graph.artifacts), ids(graph.executions)
            assert (got_a, got_x) == (sorted(got_a), sorted(got_x)), f"{case}: not in id order"
            assert all(isinstance(a, ArtifactRecord) for a in graph.artifacts)
            for ev in graph.events:
                assert ev.artifact_id in got_a and ev.execution_id in got_x, f"dangling {ev}"


def raises(kind: type[E], call: Callable[[], object], what: str) -> E:
    """The ``kind`` error that ``call()`` raises; AssertionError naming ``what`` if none."""
    try:
        call()
    except kind as exc:
        return exc
    raise AssertionError(f"{what} did not raise {kind.__name__}")
