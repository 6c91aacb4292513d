"""An artifact's files, served only from under the artifact root.

Every path a request names goes through :func:`member`: no NUL byte, no absolute path, no
``..`` segment, no backslash, and once symbolic links are resolved the file must still lie
inside the artifact's folder, which itself must lie inside the artifact root
(``UIConfig.artifact_root``). An artifact whose URI is elsewhere (an importer's reference to
a user's file) is never served: :class:`Refusal` with 403 and the reason.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi.responses import JSONResponse

from conveyor.metadata.entities import ArtifactRecord
from conveyor.storage import ArtifactStore

__all__ = [
    "MAX_LISTED",
    "Refusal",
    "artifact_folder",
    "list_files",
    "member",
    "zip_stream",
]

MAX_LISTED = 2000
"""Files listed per artifact at most (the listing says when it stopped)."""
_CHUNK = 1 << 16


@dataclass
class Refusal(Exception):
    """A request the artifact routes refuse: answered as ``{"error", "fix"}`` with ``status``."""

    status: int
    error: str
    fix: str

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.error, "fix": self.fix}, status_code=self.status)


def _inside(root: str, path: str) -> bool:
    """Whether ``path`` is ``root`` or below it (both already resolved)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _remote(url: str) -> bool:
    return "://" in url and not url.startswith("file://")


def artifact_folder(store: ArtifactStore, root: str, art: ArtifactRecord) -> str:
    """The local path of ``art``'s bytes (a folder or a file), refused unless the artifact
    lies under the artifact root; remote stores hand back their local copy.

    Raises:
        Refusal: 403 outside the root, 404 when the bytes are gone.
    """
    uri = art.uri
    if _remote(root):
        base = root.rstrip("/") + "/"
        if not uri.startswith(base) or "/../" in uri or uri.endswith("/.."):
            raise _outside(art, root)
        try:
            path = store.local_path(uri)
        except Exception as exc:  # a remote store's own error, reported
            message = f"artifact #{art.id}: its bytes could not be read: {exc}"
            raise Refusal(404, message, _GONE) from exc
        return os.path.realpath(path)
    real_root = os.path.realpath(root.removeprefix("file://"))
    path = os.path.realpath(uri.removeprefix("file://"))
    if _remote(uri) or not _inside(real_root, path) or path == real_root:
        raise _outside(art, root)
    if not os.path.exists(path):
        raise Refusal(404, f"artifact #{art.id}: its bytes are gone ({art.state})", _GONE)
    return path


_GONE = "run the pipeline again to make the artifact anew (gc may have removed it)"


def _outside(art: ArtifactRecord, root: str) -> Refusal:
    return Refusal(
        403,
        f"artifact #{art.id} lies outside the artifact root ({art.uri}); the UI serves only "
        "files under the root",
        f"open the file directly; the UI serves artifacts under {root}",
    )


def member(folder: str, rel: str) -> str:
    """The file ``rel`` inside ``folder`` (resolved), or a :class:`Refusal`.

    400 for a malformed path (NUL, absolute, ``..``, backslash, empty); 403 when a symbolic
    link leads out of the folder; 404 when there is no such file.
    """
    fix = "give a relative path from the artifact's file listing (GET .../files)"
    if not rel or "\x00" in rel or "\\" in rel or len(rel) > 1024:
        raise Refusal(400, f"not a file path of the artifact: {rel!r}", fix)
    if rel.startswith("/") or os.path.isabs(rel):
        raise Refusal(400, f"absolute paths are refused: {rel!r}", fix)
    parts = rel.split("/")
    if any(p in ("..", ".") for p in parts):
        raise Refusal(400, f"'..' and '.' are refused in paths: {rel!r}", fix)
    if os.path.isfile(folder):
        if rel == os.path.basename(folder):
            return folder
        raise Refusal(400, "this artifact is one file: download it without a path", fix)
    resolved = os.path.realpath(os.path.join(folder, *[p for p in parts if p]))
    if not _inside(folder, resolved):
        raise Refusal(403, f"{rel!r} leads outside the artifact's folder", fix)
    if not os.path.isfile(resolved):
        raise Refusal(404, f"the artifact has no file {rel!r}", fix)
    return resolved


def _walk(folder: str) -> Iterator[tuple[str, str]]:
    """``(relative path, absolute path)`` of the regular files under ``folder``, sorted, in
    it after resolving links (a link leading out is left out)."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            real = os.path.realpath(full)
            if _inside(folder, real) and os.path.isfile(real):
                yield os.path.relpath(full, folder).replace(os.sep, "/"), real


def list_files(folder: str, limit: int = MAX_LISTED) -> tuple[list[dict[str, object]], bool]:
    """The artifact's files as ``[{path, size}]`` and whether the listing was cut at
    ``limit``; a one-file artifact lists itself under its own name."""
    if os.path.isfile(folder):
        return [{"path": os.path.basename(folder), "size": os.path.getsize(folder)}], False
    files: list[dict[str, object]] = []
    for rel, real in _walk(folder):
        if len(files) >= limit:
            return files, True
        files.append({"path": rel, "size": os.path.getsize(real)})
    return files, False


class _Sink:
    """An unseekable stream that keeps what zipfile writes until it is drained."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.written = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.written += len(data)
        return len(data)

    def tell(self) -> int:
        return self.written

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def zip_stream(folder: str) -> Iterator[bytes]:
    """The folder's files as a zip archive, produced chunk by chunk (never whole in memory)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for rel, real in _walk(folder):
            with open(real, "rb") as src, archive.open(rel, "w", force_zip64=True) as dst:
                while chunk := src.read(_CHUNK):
                    dst.write(chunk)
                    if sink.written and sink.parts:
                        yield sink.drain()
            yield sink.drain()
    yield sink.drain()
