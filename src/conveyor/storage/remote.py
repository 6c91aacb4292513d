"""FsspecArtifactStore: artifacts under any fsspec URL (memory://, s3://, gs://, az://)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from typing import Any

from conveyor._internal.hashing import ALGORITHM, digest_path
from conveyor._internal.paths import check_segments
from conveyor.errors import ArtifactError, ArtifactNotFoundError, MissingExtraError
from conveyor.storage.store import Fingerprint

__all__ = ["FsspecArtifactStore"]

# URL scheme -> (conveyor extra, fsspec implementation package)
_FS_EXTRAS = {
    "s3": ("s3", "s3fs"),
    "gs": ("gcs", "gcsfs"),
    "gcs": ("gcs", "gcsfs"),
    "az": ("azure", "adlfs"),
    "abfs": ("azure", "adlfs"),
}


class FsspecArtifactStore:
    """Artifacts under an fsspec URL. Outputs are staged in a local scratch folder, uploaded
    under a temporary name, then moved to the final URI; inputs are downloaded once into a
    local read cache (artifacts are immutable, so the URI is a safe cache key).

    Example:
        >>> store = FsspecArtifactStore("memory://doc-artifacts", scratch="/tmp/conveyor-doc")
        >>> store.uri_for("run1", "data")
        'memory://doc-artifacts/run1/data'
    """

    def __init__(self, root: str, scratch: str | None = None, **storage_options: Any):
        try:
            import fsspec
        except ImportError as exc:  # pragma: no cover - fsspec is a core dependency
            raise MissingExtraError("remote", "fsspec") from exc
        self.root = root.rstrip("/")
        try:
            self._fs, _ = fsspec.core.url_to_fs(self.root, **storage_options)
        except ImportError as exc:  # s3fs, gcsfs, adlfs... are separate packages
            protocol = self.root.split("://", 1)[0]
            extra, package = _FS_EXTRAS.get(protocol, (protocol, f"{protocol}fs"))
            raise MissingExtraError(extra, package) from exc
        self._protocol = self.root.split("://", 1)[0]
        self.scratch = scratch or os.path.join(tempfile.gettempdir(), "conveyor-scratch")

    def uri_for(self, *parts: str) -> str:
        """The URL of ``parts`` under the root.

        Raises:
            ArtifactError: a part is not one path segment (``..``, ``a/b``, too long).
        """
        check_segments(self.root, parts, error=ArtifactError)
        return "/".join([self.root, *parts])

    def _staging_prefix(self, folder_uri: str) -> str:
        return hashlib.sha256(folder_uri.rstrip("/").encode()).hexdigest()[:16]

    def staging_path(self, uri: str) -> str:
        """A fresh local path in the scratch folder, named after the URI's folder (so that
        :meth:`discard_staged` finds what a killed step left)."""
        parent = uri.rstrip("/").rsplit("/", 1)[0]
        name = f"{self._staging_prefix(parent)}-{uuid.uuid4().hex}"
        folder = os.path.join(self.scratch, "staging", name)
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, os.path.basename(uri.rstrip("/")) or "artifact")

    def commit(self, staging_path: str, uri: str) -> Fingerprint:
        """Hash, upload under a temporary name, then move to ``uri``."""
        if not os.path.lexists(staging_path):
            raise ArtifactError(
                f"The component did not write its output at {staging_path!r}. Write a file "
                "or create a folder at the artifact's .path"
            )
        digest, size = digest_path(staging_path)
        partial = f"{uri}.partial-{uuid.uuid4().hex}"
        is_dir = os.path.isdir(staging_path)
        try:
            if is_dir:
                self._fs.put(staging_path.rstrip("/") + "/", partial, recursive=True)
            else:
                self._fs.put_file(staging_path, partial)
            self._fs.mv(partial, uri, recursive=is_dir)
        except Exception as exc:
            raise ArtifactError(f"Could not upload artifact to {uri!r}: {exc}") from exc
        finally:
            shutil.rmtree(os.path.dirname(staging_path), ignore_errors=True)
        return Fingerprint(digest, size)

    def discard(self, staging_path: str) -> None:
        """Remove a staged output."""
        shutil.rmtree(os.path.dirname(staging_path), ignore_errors=True)

    def discard_staged(self, folder_uri: str) -> None:
        """Delete the local staging folders of outputs under ``folder_uri`` and any upload
        left under a temporary name there."""
        staging = os.path.join(self.scratch, "staging")
        prefix = self._staging_prefix(folder_uri) + "-"
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(staging):
                if name.startswith(prefix):
                    shutil.rmtree(os.path.join(staging, name), ignore_errors=True)
        try:
            partial = self._fs.glob(folder_uri.rstrip("/") + "/*.partial-*")
            for path in partial:
                self._fs.rm(path, recursive=True)
        except Exception as exc:
            raise ArtifactError(f"Could not clean {folder_uri!r}: {exc}") from exc

    def local_path(self, uri: str) -> str:
        """Download ``uri`` once into the read cache and return the local path."""
        key = hashlib.sha256(uri.encode()).hexdigest()[:32]
        target = os.path.join(self.scratch, "fetch", key, os.path.basename(uri.rstrip("/")))
        if os.path.lexists(target):
            return target
        if not self.exists(uri):
            raise ArtifactNotFoundError(f"No artifact bytes at {uri!r}")
        tmp = f"{target}.partial-{uuid.uuid4().hex}"
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if self._fs.isdir(uri):
            self._fs.get(uri.rstrip("/") + "/", tmp, recursive=True)
        else:
            self._fs.get_file(uri, tmp)
        os.replace(tmp, target)
        return target

    def fingerprint(self, uri: str) -> Fingerprint:
        """Hash the bytes at ``uri`` by streaming them (same digest as a local copy)."""
        if not self.exists(uri):
            raise ArtifactNotFoundError(f"No artifact bytes at {uri!r}")
        if not self._fs.isdir(uri):
            hexd, size = self._hash_file(uri)
            return Fingerprint(f"{ALGORITHM}:{hexd}", size)
        base = self._fs._strip_protocol(uri).rstrip("/")
        entries: list[tuple[str, str]] = []
        total = 0
        for path in sorted(self._fs.find(uri)):
            rel = self._fs._strip_protocol(path)[len(base) + 1 :]
            hexd, size = self._hash_file(path)
            total += size
            entries.append((rel, hexd))
        h = hashlib.sha256(b"conveyor-tree-v1\0")
        for rel, hexd in sorted(entries):
            h.update(rel.encode("utf-8") + b"\0" + hexd.encode("ascii") + b"\n")
        return Fingerprint(f"{ALGORITHM}:{h.hexdigest()}", total)

    def exists(self, uri: str) -> bool:
        """Whether anything exists at ``uri``."""
        return bool(self._fs.exists(uri))

    def _hash_file(self, path: str) -> tuple[str, int]:
        h = hashlib.sha256()
        size = 0
        with self._fs.open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
        return h.hexdigest(), size
