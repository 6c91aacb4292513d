"""Where the model to serve comes from, and the check of its recorded content digest."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from conveyor._internal.hashing import digest_path
from conveyor.errors import ArtifactError
from conveyor.model.saved import MANIFEST_FILE

__all__ = ["PUSH_MARKER", "ModelSource", "check_digest", "model_source"]

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


def model_source(spec: str) -> str:
    """The local model folder that ``spec`` names (today a folder path or ``file://`` URL).

    Raises:
        ArtifactError: ``spec`` is not a local folder holding a Conveyor model.

    Example:
        >>> model_source("serving/census/1733580000")  # doctest: +SKIP
        '/home/me/project/serving/census/1733580000'
    """
    path = os.path.abspath(spec.removeprefix("file://"))
    if not os.path.isdir(path):
        raise ArtifactError(
            f"Cannot serve {spec!r}: no such folder. Give the model folder a trainer wrote "
            "(an artifact's path) or a pushed version (serving/<model>/<version>)"
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
            f"{PUSH_MARKER} records {source.recorded_digest} for the model that was pushed. "
            "The folder was changed after the push; push the model again"
        )
    return actual
