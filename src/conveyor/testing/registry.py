"""Conformance checks for ModelRegistry implementations (models, versions, aliases, history).

Like :mod:`conveyor.testing.metadata`, each check takes a factory returning an open store and
names what it creates with a fresh prefix, so a store that already holds data passes too.

Example:
    >>> from conveyor.metadata import connect
    >>> check_model_registry(lambda: connect("sqlite://"))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast

from conveyor.errors import AlreadyExistsError, ConfigError, NotFoundError, UnblessedModelError
from conveyor.metadata import MetadataStore, NewArtifact
from conveyor.metadata.registry import ModelRegistry
from conveyor.testing._metadata_support import COMPLETE, StoreFactory, open_store, raises

__all__ = [
    "REGISTRY_CHECKS",
    "bless",
    "check_model_registry",
    "model_artifact",
    "model_registry_checks",
]

MODEL_TYPE = "conveyor.Model@1.0.0"
BLESSING_TYPE = "conveyor.ModelBlessing@1.0.0"

REGISTRY_CHECKS: list[Callable[[StoreFactory], None]] = []
"""Every check, in the order they run."""


def _check(fn: Callable[[StoreFactory], None]) -> Callable[[StoreFactory], None]:
    REGISTRY_CHECKS.append(fn)
    return fn


def model_registry_checks() -> Iterator[tuple[str, Callable[[StoreFactory], None]]]:
    """Yield ``(name, check)`` for every check, e.g. to parametrize a test."""
    for check in REGISTRY_CHECKS:
        yield check.__name__, check


def check_model_registry(factory: StoreFactory) -> None:
    """Run every registry check against stores made by ``factory``.

    Raises:
        AssertionError: from the first check that fails, prefixed with its name.
    """
    for name, check in model_registry_checks():
        try:
            check(factory)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc


def _registry(store: MetadataStore) -> Any:
    assert isinstance(store, ModelRegistry), f"{store!r} lacks ModelRegistry methods"
    return cast(Any, store)


def model_artifact(store: MetadataStore, prefix: str, key: str = "model") -> int:
    """Record a trainer execution writing a LIVE ``Model`` artifact; return its id."""
    _, [model] = store.record_execution(
        f"{prefix}.Trainer",
        f"train-{key}",
        COMPLETE,
        outputs=[
            NewArtifact(
                key="model",
                type_name=MODEL_TYPE,
                uri=f"mem://{prefix}/{key}",
                fingerprint=f"{prefix}-{key}",
            )
        ],
    )
    return model.id


def bless(store: MetadataStore, model_id: int, *, blessed: bool = True) -> int:
    """Record an evaluator execution that judged ``model_id`` (its ``model`` input) and wrote
    a ``ModelBlessing``; return the blessing's artifact id."""
    fingerprint = store.get_artifact(model_id).fingerprint
    _, [blessing] = store.record_execution(
        "conveyor.Evaluator",
        f"evaluate-{model_id}",
        COMPLETE,
        inputs=[("model", model_id)],
        outputs=[
            NewArtifact(
                key="blessing",
                type_name=BLESSING_TYPE,
                uri=f"mem://blessing/{model_id}/{time.time_ns()}",
                properties={"blessed": blessed, "model_fingerprint": fingerprint},
            )
        ],
    )
    return blessing.id


@_check
def check_register_and_version(factory: StoreFactory) -> None:
    """Models register once; versions number 1, 2, ... per model and bind their artifact."""
    with open_store(factory) as (store, p):
        reg = _registry(store)
        model = reg.register_model(f"{p}-m", description="d", tags={"team": "a"})
        assert (model.name, model.description, model.tags) == (f"{p}-m", "d", {"team": "a"})
        assert model.latest_version is None and model.aliases == {}
        raises(
            AlreadyExistsError, lambda: reg.register_model(f"{p}-m"), "registering a model twice"
        )
        assert reg.register_model(f"{p}-m", exist_ok=True).id == model.id
        a, b = model_artifact(store, p, "a"), model_artifact(store, p, "b")
        v1 = reg.create_model_version(f"{p}-m", a, description="first")
        v2 = reg.create_model_version(f"{p}-m", b, tags={"k": 1})
        assert (v1.version, v2.version) == (1, 2), (v1, v2)
        assert (v1.artifact_id, v1.uri) == (a, f"mem://{p}/a"), v1
        other = reg.register_model(f"{p}-other")
        assert reg.create_model_version(other.name, a).version == 1, "versions are per model"
        assert [v.version for v in reg.list_model_versions(f"{p}-m")] == [1, 2]
        assert reg.get_model(f"{p}-m").latest_version == 2
        names = [m.name for m in reg.list_models()]
        assert f"{p}-m" in names and names == sorted(names), names
        updated = reg.update_model(f"{p}-m", tags={"stage": "x"})
        assert updated.tags == {"team": "a", "stage": "x"} and updated.description == "d"
        version = reg.update_model_version(f"{p}-m", 1, description="one", tags={"z": 2})
        assert (version.description, version.tags) == ("one", {"z": 2}), version
        calls: list[Callable[[], object]] = [
            lambda: reg.get_model(f"{p}-missing"),
            lambda: reg.get_model_version(f"{p}-m", 9),
            lambda: reg.create_model_version(f"{p}-missing", a),
        ]
        for call in calls:
            exc = raises(NotFoundError, call, "a missing model or version")
            assert f"{p}-m" in str(exc) or "9" in str(exc), exc


@_check
def check_version_needs_a_live_model_artifact(factory: StoreFactory) -> None:
    """A version can only bind a LIVE ``Model`` artifact."""
    with open_store(factory) as (store, p):
        reg = _registry(store)
        reg.register_model(f"{p}-m")
        _, [data] = store.record_execution(
            f"{p}.T", "t", COMPLETE, outputs=[NewArtifact("d", f"{p}.Data", f"mem://{p}/d")]
        )
        exc = raises(
            ValueError, lambda: reg.create_model_version(f"{p}-m", data.id), "a non-Model version"
        )
        assert "Model" in str(exc), exc
        assert reg.list_model_versions(f"{p}-m") == []


@_check
def check_unblessed_move_is_refused_and_forced_is_recorded(factory: StoreFactory) -> None:
    """An unblessed version cannot take an alias unless forced with a reason, recorded."""
    with open_store(factory) as (store, p):
        reg = _registry(store)
        reg.register_model(f"{p}-m")
        judged = model_artifact(store, p, "judged")
        bless(store, judged, blessed=False)
        reg.create_model_version(f"{p}-m", judged)
        exc = raises(
            UnblessedModelError,
            lambda: reg.set_alias(f"{p}-m", "champion", 1),
            "an unblessed version taking an alias",
        )
        assert "force" in str(exc), exc
        assert reg.alias_history(f"{p}-m") == [], "a refused move left a history row"
        # a blessing of ANOTHER model, where this one was only the baseline, does not count
        candidate = model_artifact(store, p, "candidate")
        store.record_execution(
            "conveyor.Evaluator",
            "evaluate-candidate",
            COMPLETE,
            inputs=[("model", candidate), ("baseline_model", judged)],
            outputs=[
                NewArtifact(
                    key="blessing",
                    type_name=BLESSING_TYPE,
                    uri=f"mem://{p}/blessing",
                    properties={"blessed": True},
                )
            ],
        )
        assert not reg.is_blessed(judged), "a baseline took its challenger's blessing"
        stale = model_artifact(store, p, "stale")
        store.record_execution(
            "conveyor.Evaluator",
            "evaluate-stale",
            COMPLETE,
            inputs=[("model", stale)],
            outputs=[
                NewArtifact(
                    key="blessing",
                    type_name=BLESSING_TYPE,
                    uri=f"mem://{p}/stale-blessing",
                    properties={"blessed": True, "model_fingerprint": "another model"},
                )
            ],
        )
        assert not reg.is_blessed(stale), "a blessing of other bytes counted"
        assert reg.is_blessed(candidate)
        raises(
            ValueError,
            lambda: reg.set_alias(f"{p}-m", "champion", 1, force=True, reason=" "),
            "a forced move without a reason",
        )
        change = reg.set_alias(f"{p}-m", "champion", 1, force=True, reason="hotfix", actor="tester")
        assert (change.forced, change.reason, change.actor) == (True, "hotfix", "tester")
        [row] = reg.alias_history(f"{p}-m", "champion")
        assert (row.from_version, row.to_version, row.forced, row.reason) == (
            None,
            1,
            True,
            "hotfix",
        ), row
        assert row.changed_at.tzinfo is not None


@_check
def check_blessed_moves_resolve_and_roll_back(factory: StoreFactory) -> None:
    """Blessed versions take aliases; references resolve; a rollback moves back, recorded."""
    with open_store(factory) as (store, p):
        reg = _registry(store)
        name = f"{p}-m"
        reg.register_model(name)
        ids = [model_artifact(store, p, k) for k in ("a", "b")]
        for model_id in ids:
            bless(store, model_id)
            reg.create_model_version(name, model_id)
        first = reg.set_alias(name, "champion", 1)
        assert (first.from_version, first.to_version, first.forced) == (None, 1, False), first
        assert reg.resolve_model(f"{name}@champion").version == 1
        reg.set_alias(name, "champion", 2)
        assert reg.resolve_model(f"models:/{name}@champion").artifact_id == ids[1]
        assert reg.resolve_model(f"models:/{name}/1").uri == f"mem://{p}/a"
        assert reg.get_model_version(name, 2).aliases == ("champion",)
        assert reg.get_model(name).aliases == {"champion": 2}
        back = reg.rollback_alias(name, "champion", actor="ops")
        assert (back.from_version, back.to_version) == (2, 1), back
        assert reg.resolve_model(f"{name}@champion").version == 1
        moves = [(c.from_version, c.to_version) for c in reg.alias_history(name, "champion")]
        assert moves == [(None, 1), (1, 2), (2, 1)], moves
        gone = reg.delete_alias(name, "champion")
        assert (gone.from_version, gone.to_version) == (1, None), gone
        for ref, missing in (
            (f"{name}@champion", "champion"),
            (f"{name}/7", "7"),
            (f"{p}-nope@champion", f"{p}-nope"),
        ):
            exc = raises(NotFoundError, partial(reg.resolve_model, ref), f"resolve_model({ref!r})")
            assert missing in str(exc), (ref, str(exc))
        raises(
            ConfigError, lambda: reg.resolve_model(name), "a reference without @alias or /version"
        )


@_check
def check_alias_at_a_time(factory: StoreFactory) -> None:
    """``alias_at`` answers where an alias pointed at any moment, unset and deleted included."""
    with open_store(factory) as (store, p):
        reg = _registry(store)
        name = f"{p}-m"
        reg.register_model(name)
        for key in ("a", "b"):
            model_id = model_artifact(store, p, key)
            bless(store, model_id)
            reg.create_model_version(name, model_id)
        before = datetime.now(UTC) - timedelta(seconds=1)
        t1 = reg.set_alias(name, "champion", 1).changed_at
        t2 = reg.set_alias(name, "champion", 2).changed_at
        t3 = reg.delete_alias(name, "champion").changed_at
        assert reg.alias_at(name, "champion", before) is None
        at1 = reg.alias_at(name, "champion", t1)
        assert at1 is not None and at1.version == 1, at1
        mid = t1 + (t2 - t1) / 2
        assert getattr(reg.alias_at(name, "champion", mid), "version", None) == 1
        assert getattr(reg.alias_at(name, "champion", t2), "version", None) == 2
        assert reg.alias_at(name, "champion", t3 + timedelta(seconds=1)) is None
        assert reg.alias_at(name, "other", t2) is None
