"""Where the model to serve comes from, and the check of its recorded content digest."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from conveyor._internal.hashing import digest_path
from conveyor.errors import ArtifactError, ConfigError, StoreError
from conveyor.model.saved import MANIFEST_FILE

if TYPE_CHECKING:
    from conveyor.metadata import MetadataStore
    from conveyor.metadata.registry import ModelRegistry, ModelVersion

    class ModelRegistryStore(MetadataStore, ModelRegistry, Protocol):
        """A metadata store with a model registry (the built-in SQL store)."""


__all__ = [
    "MODELS_SCHEME",
    "PUSH_MARKER",
    "ModelSource",
    "check_digest",
    "model_source",
    "open_registry",
    "open_source",
    "registered_source",
]

MODELS_SCHEME = "models:/"

PUSH_MARKER = "conveyor_push.json"
"""Written by the Pusher into each pushed version (kept in step with components/model/pusher)."""


@dataclass(frozen=True)
class ModelSource:
    """A model folder ready to load: its path, the name it is served under, its version and
    the content digest recorded for it (``None``: nothing recorded)."""

    path: str
    name: str
    version: str | None
    recorded_digest: str | None


def model_source(spec: str, *, metadata_url: str | None = None) -> str:
    """The local model folder that ``spec`` names: a folder path, a ``file://`` URL, or a
    registered version ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` (looked up in the
    metadata store at ``metadata_url``).

    Raises:
        ArtifactError: ``spec`` is not a local folder holding a Conveyor model.
        NotFoundError: no such registered model, alias or version.

    Example:
        >>> model_source("serving/census/1733580000")  # doctest: +SKIP
        '/home/me/project/serving/census/1733580000'
    """
    return open_source(spec, metadata_url=metadata_url).path


def open_source(spec: str, *, metadata_url: str | None = None) -> ModelSource:
    """What :func:`model_source` resolves, with the name, version and recorded digest: a
    registered version is served under its model's name and version number, with the
    digest the store recorded for its ``Model`` artifact; a folder as :func:`describe` says.
    """
    if spec.startswith(MODELS_SCHEME):
        return _registered(spec, metadata_url)
    return describe(_folder(spec, spec))


def _registered(spec: str, metadata_url: str | None) -> ModelSource:
    if metadata_url is None:
        raise ConfigError(f"{spec} names a registered model; give the metadata store's URL")
    store = open_registry(metadata_url)
    try:
        return registered_source(store, store.resolve_model(spec), spec)
    finally:
        store.close()


def open_registry(metadata_url: str) -> ModelRegistryStore:
    """The metadata store at ``metadata_url``, checked to hold a model registry (close it).

    Raises:
        StoreError: the store has no model registry.
    """
    from conveyor.metadata import connect
    from conveyor.metadata.registry import ModelRegistry

    store = connect(metadata_url)
    if not isinstance(store, ModelRegistry):
        store.close()
        raise StoreError(
            f"The metadata store {metadata_url!r} has no model registry; models:/ URIs "
            "need the built-in SQLite or PostgreSQL store"
        )
    return cast("ModelRegistryStore", store)


def registered_source(store: ModelRegistryStore, version: ModelVersion, spec: str) -> ModelSource:
    """The folder of the registered ``version`` (which ``spec`` resolved to), served under its
    model's name and version number, with the digest the store recorded for its artifact."""
    artifact = store.get_artifact(version.artifact_id)
    if "://" in version.uri and not version.uri.startswith("file://"):
        raise ArtifactError(
            f"{spec} is version {version.version} of {version.model_name!r} at {version.uri!r}; "
            "conveyor serve reads local folders only. Copy the files to a local folder and "
            "serve that"
        )
    path = _folder(version.uri, spec)
    return ModelSource(path, version.model_name, str(version.version), artifact.fingerprint)


def _folder(location: str, spec: str) -> str:
    path = os.path.abspath(location.removeprefix("file://"))
    if not os.path.isdir(path):
        raise ArtifactError(
            f"Cannot serve {spec!r}: no folder at {path!r}. Give the model folder a trainer "
            "wrote (an artifact's path), a pushed version (serving/<model>/<version>) or a "
            "registered version (models:/NAME@ALIAS)"
        )
    if not os.path.isfile(os.path.join(path, MANIFEST_FILE)):
        raise ArtifactError(
            f"Cannot serve {spec!r}: it has no {MANIFEST_FILE}, so it is not a Conveyor model "
            "folder. Give the trainer's model folder or a pushed version"
        )
    return path


def describe(path: str) -> ModelSource:
    """The name, version and recorded digest of the model folder at ``path``: a pushed
    version (with the Pusher's ``conveyor_push.json``) is named after its parent folder;
    another folder after itself, without a version or a digest."""
    marker = _marker(path)
    if marker is None:
        return ModelSource(path, os.path.basename(path.rstrip(os.sep)), None, None)
    version = marker.get("version")
    digest = marker.get("model_fingerprint")
    return ModelSource(
        path,
        os.path.basename(os.path.dirname(path.rstrip(os.sep))),
        None if version is None else str(version),
        digest if isinstance(digest, str) and digest else None,
    )


def _marker(path: str) -> dict[str, Any] | None:
    file = os.path.join(path, PUSH_MARKER)
    if not os.path.exists(file):
        return None
    try:
        with open(file, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"Cannot read the push record {file!r}: {exc}") from exc
    if not isinstance(data, dict):
        raise ArtifactError(f"The push record {file!r} is not a JSON object")
    return data


def check_digest(source: ModelSource) -> str:
    """The content digest of the model's files, checked against the recorded one.

    Raises:
        ArtifactError: the files changed since the digest was recorded.
    """
    actual, _ = digest_path(source.path, exclude=(PUSH_MARKER,))
    if source.recorded_digest is not None and actual != source.recorded_digest:
        raise ArtifactError(
            f"Refusing to serve {source.path!r}: its files have digest {actual}, but "
            f"{source.recorded_digest} was recorded for it (by the push, or by the metadata "
            "store for a registered version). The files were changed since; push or "
            "register the model again"
        )
    return actual
