"""Artifact storage: a local folder by default, any fsspec URL in production."""

from __future__ import annotations

from typing import Any

from conveyor.storage.local import LocalArtifactStore
from conveyor.storage.store import ArtifactStore, Fingerprint

__all__ = ["ArtifactStore", "Fingerprint", "LocalArtifactStore", "open_store"]


def open_store(url: str, *, scratch: str | None = None, **options: Any) -> ArtifactStore:
    """The artifact store for ``url``: a local path or ``file://`` URL, or any fsspec URL.

    Example:
        >>> open_store("/tmp/conveyor-doc-store").root
        '/tmp/conveyor-doc-store'
    """
    if "://" not in url or url.startswith("file://"):
        return LocalArtifactStore(url)
    from conveyor.storage.remote import FsspecArtifactStore

    return FsspecArtifactStore(url, scratch=scratch, **options)
