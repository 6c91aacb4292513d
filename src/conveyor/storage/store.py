"""The ArtifactStore protocol: where artifact bytes live and how they are published atomically."""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

__all__ = ["ArtifactStore", "Fingerprint"]


class Fingerprint(NamedTuple):
    """Content digest (``sha256:<hex>``) and total size in bytes of a file or folder."""

    digest: str
    size: int


@runtime_checkable
class ArtifactStore(Protocol):
    """Artifact bytes under one root URL.

    The write protocol is stage, then commit: a component writes into :meth:`staging_path`,
    and :meth:`commit` hashes the bytes and publishes them at the final URI in one step, so a
    killed step never leaves half an artifact at a final URI.
    """

    root: str

    def uri_for(self, *parts: str) -> str:
        """The URI of a path under the root."""
        ...

    def staging_path(self, uri: str) -> str:
        """A fresh local path (not yet created) where a component writes the output that
        :meth:`commit` will publish at ``uri``."""
        ...

    def commit(self, staging_path: str, uri: str) -> Fingerprint:
        """Publish the staged file or folder at ``uri``; return its fingerprint."""
        ...

    def discard(self, staging_path: str) -> None:
        """Delete a staged output that will not be committed."""
        ...

    def discard_staged(self, folder_uri: str) -> None:
        """Delete every staged output meant for a URI under ``folder_uri`` that was never
        committed (left by a step whose process was killed); committed outputs stay."""
        ...

    def local_path(self, uri: str) -> str:
        """A local path to read the artifact at ``uri`` (downloaded if the store is remote)."""
        ...

    def fingerprint(self, uri: str) -> Fingerprint:
        """Hash the bytes at ``uri`` now; :class:`ArtifactNotFoundError` if they are gone."""
        ...

    def exists(self, uri: str) -> bool:
        """Whether bytes exist at ``uri``."""
        ...
