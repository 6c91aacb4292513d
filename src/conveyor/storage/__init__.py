"""Artifact storage: a local folder by default, any fsspec URL in production."""

from __future__ import annotations

import os
from typing import Any

from conveyor._internal.paths import is_remote
from conveyor.storage.local import LocalArtifactStore
from conveyor.storage.store import ArtifactStore, Fingerprint

__all__ = ["ArtifactStore", "Fingerprint", "LocalArtifactStore", "content_digest", "open_store"]


def open_store(url: str, *, scratch: str | None = None, **options: Any) -> ArtifactStore:
    """The artifact store for ``url``: a local path or ``file://`` URL, or any fsspec URL.

    Example:
        >>> open_store("/tmp/conveyor-doc-store").root
        '/tmp/conveyor-doc-store'
    """
    if not is_remote(url):
        return LocalArtifactStore(url)
    from conveyor.storage.remote import FsspecArtifactStore

    return FsspecArtifactStore(url, scratch=scratch, **options)


def content_digest(url: str) -> str:
    """The content digest a file or folder (local path or fsspec URL) would have as an
    artifact: the same ``sha256:`` value the store records when it commits those bytes.

    Example:
        >>> content_digest(__file__).startswith("sha256:")
        True
    """
    if not is_remote(url):
        return (
            LocalArtifactStore("/").fingerprint(os.path.abspath(url.removeprefix("file://"))).digest
        )
    parent = url.rstrip("/").rsplit("/", 1)[0]
    return open_store(parent).fingerprint(url).digest
