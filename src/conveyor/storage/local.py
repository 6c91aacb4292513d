"""LocalArtifactStore: artifacts in a local folder, published with an atomic rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid

from conveyor._internal.hashing import digest_path
from conveyor._internal.paths import is_under, path_under
from conveyor.errors import ArtifactError, ArtifactNotFoundError
from conveyor.storage.store import Fingerprint

__all__ = ["LocalArtifactStore"]


class LocalArtifactStore:
    """Artifacts under a local folder; URIs are absolute paths.

    A staged output is a hidden sibling of its final path (``.<name>.partial-<id>``), so
    :meth:`commit` is a single ``rename`` on one file system and no extra folders are made.

    Example:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as root:
        ...     store = LocalArtifactStore(root)
        ...     uri = store.uri_for("run1", "data")
        ...     staged = store.staging_path(uri)
        ...     _ = pathlib.Path(staged).write_text("x")
        ...     store.commit(staged, uri).size
        1
    """

    def __init__(self, root: str):
        if root.startswith("file://"):
            root = root[len("file://") :]
        self.root = os.path.abspath(root)

    def uri_for(self, *parts: str) -> str:
        """The absolute path of ``parts`` under the root.

        Raises:
            ArtifactError: a part is not one path segment (``..``, ``a/b``, too long), or the
                path leads outside the root through a symbolic link.
        """
        return path_under(self.root, *parts, error=ArtifactError)

    def staging_path(self, uri: str) -> str:
        """A fresh hidden path beside ``uri``'s final place (which must be under the root)."""
        target = self._inside(uri)
        folder, name = os.path.split(target)
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, f".{name}.partial-{uuid.uuid4().hex[:12]}")

    def commit(self, staging_path: str, uri: str) -> Fingerprint:
        """Hash the staged bytes and rename them to ``uri``."""
        if not os.path.lexists(staging_path):
            raise ArtifactError(
                f"The component did not write its output at {staging_path!r}. Write a file "
                "or create a folder at the artifact's .path"
            )
        digest, size = digest_path(staging_path)
        target = self._inside(uri)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.lexists(target):
            _remove(target)
        os.replace(staging_path, target)
        return Fingerprint(digest, size)

    def discard(self, staging_path: str) -> None:
        """Remove a staged output."""
        _remove(staging_path)

    def discard_staged(self, folder_uri: str) -> None:
        """Delete the ``.NAME.partial-ID`` siblings under ``folder_uri`` (and the folder, when
        that leaves it empty)."""
        folder = self._path(folder_uri)
        try:
            names = os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return
        for name in names:
            if name.startswith(".") and ".partial-" in name:
                _remove(os.path.join(folder, name))
        with contextlib.suppress(OSError):
            os.rmdir(folder)  # only when empty

    def local_path(self, uri: str) -> str:
        """The path itself: local artifacts are read in place."""
        return self._path(uri)

    def fingerprint(self, uri: str) -> Fingerprint:
        """Hash the bytes at ``uri``."""
        try:
            digest, size = digest_path(self._path(uri))
        except FileNotFoundError:
            raise ArtifactNotFoundError(f"No artifact bytes at {uri!r}") from None
        return Fingerprint(digest, size)

    def exists(self, uri: str) -> bool:
        """Whether a file or folder exists at ``uri``."""
        return os.path.lexists(self._path(uri))

    def _path(self, uri: str) -> str:
        return uri[len("file://") :] if uri.startswith("file://") else uri

    def _inside(self, uri: str) -> str:
        """The path of ``uri``, refused unless it lies under the root: outputs are written
        only there."""
        target = self._path(uri)
        if not is_under(self.root, target) or os.path.realpath(target) == os.path.realpath(
            self.root
        ):
            raise ArtifactError(
                f"Refusing to write artifact {uri!r}: it is not under the artifact root "
                f"{self.root!r} (symbolic links resolved)"
            )
        return target


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)
