"""The model registry as the pusher's target and as a baseline source.

:func:`register_push` adds a pushed model as a version of a registered model (or finds the
version that already holds the same content) and may move an alias to it;
:func:`registry_baseline` reads the version an alias points at. Both take the metadata store
of the running task, which is the registry (:class:`~conveyor.metadata.registry.ModelRegistry`).
"""

from __future__ import annotations

from typing import Any

from conveyor.errors import ConfigError, NotFoundError
from conveyor.metadata.entities import ArtifactRecord, ArtifactState
from conveyor.metadata.registry import ModelRegistry, ModelVersion, check_registry_name
from conveyor.metadata.store import MetadataStore

__all__ = ["check_registry_params", "register_push", "registry_baseline", "tag_version"]


def check_registry_params(registered_model: str | None, alias: str | None) -> None:
    """Refuse a registry name or alias a reference could not carry, or an alias without a
    model to move it on.

    Raises:
        ValueError: what is wrong and how to write it instead.
    """
    if registered_model is None:
        if alias is not None:
            raise ValueError(
                f"alias={alias!r} needs registered_model=...: an alias points at a version "
                "of a registered model (e.g. registered_model='census', alias='champion')"
            )
        return
    check_registry_name("model", registered_model)
    if alias is not None:
        check_registry_name("alias", alias)


def _registry(store: MetadataStore) -> ModelRegistry:
    if not isinstance(store, ModelRegistry):
        raise ConfigError(
            f"The metadata store {type(store).__name__} has no model registry; point the "
            "settings' metadata store at SQLite or PostgreSQL to push into the registry"
        )
    return store


def _same_content(
    store: MetadataStore, versions: list[ModelVersion], model_id: int | None, fingerprint: str
) -> ModelVersion | None:
    """The newest version bound to ``model_id``, or to a LIVE model of the same content."""
    records: dict[int, ArtifactRecord] = {
        r.id: r for r in store.get_artifacts([v.artifact_id for v in versions])
    }
    for version in reversed(versions):
        record = records.get(version.artifact_id)
        if version.artifact_id == model_id or (
            record is not None
            and record.state == ArtifactState.LIVE
            and fingerprint
            and record.fingerprint == fingerprint
        ):
            return version
    return None


def register_push(
    store: MetadataStore,
    name: str,
    *,
    model_id: int,
    fingerprint: str,
    alias: str | None,
    run_id: str | None,
    reason: str,
) -> dict[str, Any]:
    """Register the model artifact ``model_id`` as a version of ``name`` (created if new),
    reusing the version that already holds the same content, and point ``alias`` at it.

    Returns the properties a ``PushedModel`` records: ``registered_model``,
    ``registered_version``, ``registered_new`` (False when an existing version was reused),
    and with an alias ``alias``, ``alias_moved`` (False when it already pointed there) and
    ``alias_from_version``. The move's history row says ``pusher, run RUN_ID`` and ``reason``.

    Raises:
        UnblessedModelError: no evaluation blessed the model (the registry's own gate).
    """
    registry = _registry(store)
    actor = f"pusher, run {run_id}" if run_id else "pusher"
    registry.register_model(name, exist_ok=True)
    version = _same_content(store, registry.list_model_versions(name), model_id, fingerprint)
    new = version is None
    if version is None:
        version = registry.create_model_version(
            name, model_id, description=f"pushed by {actor}", tags={"run_id": run_id or ""}
        )
    props: dict[str, Any] = {
        "registered_model": name,
        "registered_version": version.version,
        "registered_uri": f"models:/{name}/{version.version}",
        "registered_new": new,
    }
    if alias is not None:
        before = registry.get_model(name).aliases.get(alias)
        moved = before != version.version
        if moved:
            registry.set_alias(name, alias, version.version, reason=reason, actor=actor)
        props.update(alias=alias, alias_moved=moved, alias_from_version=before)
    return props


def tag_version(store: MetadataStore, name: str, version: int, tags: dict[str, Any]) -> None:
    """Merge ``tags`` into version ``version`` of ``name`` (e.g. where its ONNX export is)."""
    _registry(store).update_model_version(name, version, tags=tags)


def registry_baseline(store: MetadataStore, name: str, alias: str) -> ArtifactRecord | None:
    """The LIVE ``Model`` artifact ``name@alias`` points at; None when the model or alias
    does not exist yet (a first run) or the artifact is no longer LIVE."""
    registry = _registry(store)
    try:
        version = registry.resolve_model(f"{name}@{alias}")
    except NotFoundError:
        return None
    found = store.get_artifacts([version.artifact_id])
    if not found or found[0].state != ArtifactState.LIVE:
        return None
    return found[0]
