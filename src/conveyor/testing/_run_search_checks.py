"""Conformance checks of ``search_runs`` and ``summarize_runs`` (included by testing.metadata).

Each check's runs belong to a pipeline (or experiment) named with the check's fresh prefix and
every query names it, so the checks pass on a store that already holds other runs.
"""

from __future__ import annotations

from typing import Any

from conveyor.metadata import CONTEXT_RUN, MetadataStore
from conveyor.metadata.runs import RunQuery, parse_predicate, parse_sort
from conveyor.testing._metadata_support import StoreFactory, open_store, raises

__all__ = ["RUN_SEARCH_CHECKS"]

# (suffix, state, started_at, duration, parameters, metrics, lifecycle)
_RUNS: list[tuple[str, str, float, float | None, dict[str, Any], dict[str, float], str | None]] = [
    ("a", "COMPLETE", 1000.0, 5.0, {"lr": 0.1, "opt": "adam", "gpu": True}, {"auc": 0.9}, None),
    ("b", "FAILED", 2000.0, 1.0, {"lr": 0.01, "opt": "sgd"}, {"auc": 0.5}, None),
    ("c", "COMPLETE", 3000.0, 9.0, {"lr": 1, "opt": "adam"}, {"auc": 0.7, "x.y": 2.0}, None),
    ("d", "RUNNING", 4000.0, None, {"lr": "0.5", "gpu": False}, {}, None),
    ("e", "COMPLETE", 5000.0, 3.0, {"lr": 0.5}, {"auc": 0.95}, "archived"),
    ("f", "CANCELED", 6000.0, 2.0, {"lr": 0.2}, {"auc": 0.1}, "deleted"),
]


def _fill(store: MetadataStore, p: str) -> None:
    for suffix, state, started, duration, params, metrics, lifecycle in _RUNS:
        props: dict[str, Any] = {
            "pipeline": f"{p}.pipe",
            "experiment": f"{p}.exp" if suffix in "abe" else f"{p}.other",
            "state": state,
            "started_at": started,
            "parameters": params,
            "metrics": metrics,
        }
        if duration is not None:
            props["duration_seconds"] = duration
            props["finished_at"] = started + duration
        if lifecycle is not None:
            props["lifecycle"] = lifecycle
        store.put_context(CONTEXT_RUN, f"{p}-run-{suffix}", props)


def _names(store: MetadataStore, p: str, **fields: Any) -> list[str]:
    fields.setdefault("pipeline", f"{p}.pipe")
    page = store.search_runs(RunQuery(**fields))
    return [ctx.name.rpartition("-")[2] for ctx in page.runs]


def check_search_runs_filters(factory: StoreFactory) -> None:
    """Filters: pipeline, experiment, states, start time, lifecycle, run id text, parameter
    and metric predicates with numbers, strings and booleans kept apart."""
    with open_store(factory) as (store, p):
        _fill(store, p)
        pred = parse_predicate
        cases: list[tuple[dict[str, Any], str]] = [
            ({}, "dcba"),
            ({"lifecycle": "archived"}, "e"),
            ({"lifecycle": "deleted"}, "f"),
            ({"lifecycle": "all"}, "fedcba"),
            ({"experiment": f"{p}.exp"}, "ba"),
            ({"experiment": f"{p}.exp", "lifecycle": "all"}, "eba"),
            ({"states": ("COMPLETE", "FAILED")}, "cba"),
            ({"started_after": 2000.0, "started_before": 4000.0}, "cb"),
            ({"text": f"{p}-RUN-C".upper()}, "c"),
            ({"parameters": (pred("lr>=0.1"),)}, "ca"),  # the string "0.5" is no number
            ({"parameters": (pred("lr=0.5"),), "lifecycle": "all"}, "e"),
            ({"parameters": (pred("lr='0.5'"),)}, "d"),
            ({"parameters": (pred("opt=adam"),)}, "ca"),
            ({"parameters": (pred("opt!=adam"),)}, "b"),
            ({"parameters": (pred("opt>b"),)}, "b"),
            ({"parameters": (pred("gpu=true"),)}, "a"),
            ({"parameters": (pred("gpu!=true"),)}, "d"),
            ({"parameters": (pred("lr<1"), pred("opt=adam"))}, "a"),
            ({"metrics": (pred("auc>0.6"),)}, "ca"),
            ({"metrics": (pred("x.y=2"),)}, "c"),
            ({"metrics": (pred("auc<=0.5"),), "lifecycle": "all"}, "fb"),
            ({"parameters": (pred("missing=1"),)}, ""),
        ]
        for fields, want in cases:
            got = "".join(_names(store, p, **fields))
            assert got == want, f"search_runs({fields!r}) found {got!r}, expected {want!r}"
        assert _names(store, "nobody") == [], "a pipeline with no runs matched runs"
        # a change to a run shows in the next search (nothing stale is served)
        for suffix, lifecycle in (("a", "archived"), ("d", None)):
            ctx = store.find_context(CONTEXT_RUN, f"{p}-run-{suffix}")
            assert ctx is not None
            store.update_context(ctx.id, {"lifecycle": lifecycle, "state": "COMPLETE"})
        assert "".join(_names(store, p)) == "dcb", "an archived run is still listed"
        assert "".join(_names(store, p, states=("RUNNING",))) == "", "a stale state matched"
        store.put_context(CONTEXT_RUN, f"{p}-run-g", {"pipeline": f"{p}.pipe", "started_at": 1.0})
        assert "".join(_names(store, p)) == "dcbg", "a new run is missing"


def check_search_runs_sorts_and_pages(factory: StoreFactory) -> None:
    """Sort keys in both directions (missing values last, ties by id), pages and totals."""
    with open_store(factory) as (store, p):
        _fill(store, p)
        everything = {"lifecycle": "all"}
        cases = [
            ("started_at", "abcdef"),
            ("-started_at", "fedcba"),
            ("duration", "bfeacd"),
            ("-duration", "caefbd"),
            ("finished_at", "abcefd"),
            ("state", "facebd"),  # CANCELED, COMPLETE (by id), FAILED, RUNNING
            ("-run_id", "fedcba"),
            ("metric:auc", "fbcaed"),
            ("-metric:auc", "eacbfd"),
            ("param:lr", "bafecd"),  # numbers (0.01 .. 1) then the string "0.5"
            ("-param:lr", "cefabd"),
            ("param:opt", "acbdef"),  # adam (a, c by id), sgd, then the runs without it
        ]
        for sort, want in cases:
            got = "".join(_names(store, p, sort=parse_sort(sort), **everything))
            assert got == want, f"sort {sort!r} gave {got!r}, expected {want!r}"
        oldest = parse_sort("started_at")
        pages = [
            store.search_runs(
                RunQuery(pipeline=f"{p}.pipe", lifecycle="all", sort=oldest, limit=4, offset=o)
            )
            for o in (0, 4, 8)
        ]
        assert [page.total for page in pages] == [6, 6, 6], "the total changed between pages"
        paged = ["".join(c.name[-1] for c in page.runs) for page in pages]
        assert paged == ["abcd", "ef", ""], f"pages of 4 were {paged!r}"
        first = pages[0].runs[0]
        assert first.type_name == CONTEXT_RUN and first.properties["parameters"]["opt"] == "adam"


def check_search_runs_refuses_bad_input(factory: StoreFactory) -> None:
    """Bad names, operators, sort keys, lifecycles and limits raise ValueError."""
    with open_store(factory) as (store, p):
        _fill(store, p)
        for text in ('lr"]=1', "lr=>1", "lr==1", "lr", "lr>=", "x y=1", "lr>=nan"):
            raises(ValueError, lambda t=text: parse_predicate(t), f"parse_predicate({text!r})")  # type: ignore[misc]
        for text in ("nope", "param:", 'metric:a"b', "param:$.x"):
            raises(ValueError, lambda t=text: parse_sort(t), f"parse_sort({text!r})")  # type: ignore[misc]
        for fields in ({"lifecycle": "gone"}, {"limit": 0}, {"limit": 501}, {"offset": -1}):
            raises(ValueError, lambda f=fields: RunQuery(**f), f"RunQuery({fields!r})")  # type: ignore[misc]
        assert _names(store, p, text="'; DROP TABLE contexts; --") == []
        assert len(_names(store, p)) == 4, "a hostile text changed the store"


def check_summarize_runs(factory: StoreFactory) -> None:
    """Runs counted by experiment, pipeline and state, with the newest start of each group."""
    with open_store(factory) as (store, p):
        _fill(store, p)
        mine = {
            (g.experiment, g.state): (g.count, g.last_started_at)
            for g in store.summarize_runs()
            if g.pipeline == f"{p}.pipe"
        }
        want = {
            (f"{p}.exp", "COMPLETE"): (1, 1000.0),
            (f"{p}.exp", "FAILED"): (1, 2000.0),
            (f"{p}.other", "COMPLETE"): (1, 3000.0),
            (f"{p}.other", "RUNNING"): (1, 4000.0),
        }
        assert mine == want, f"summarize_runs() gave {mine!r}"
        every = {(g.experiment, g.state) for g in store.summarize_runs("all")}
        assert (f"{p}.exp", "COMPLETE") in every and (f"{p}.other", "CANCELED") in every
        archived = [g for g in store.summarize_runs("archived") if g.pipeline == f"{p}.pipe"]
        assert [(g.experiment, g.count) for g in archived] == [(f"{p}.exp", 1)]


RUN_SEARCH_CHECKS = [
    check_search_runs_filters,
    check_search_runs_sorts_and_pages,
    check_search_runs_refuses_bad_input,
    check_summarize_runs,
]
"""The run search checks, in the order they run."""
