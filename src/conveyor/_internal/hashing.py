"""Content hashing: stable digests of JSON values, files and folders."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Collection
from typing import Any

__all__ = ["digest_bytes", "digest_json", "digest_path", "digest_text"]

ALGORITHM = "sha256"
_CHUNK = 1 << 20


def digest_bytes(data: bytes) -> str:
    """``sha256:<hex>`` of bytes."""
    return f"{ALGORITHM}:{hashlib.sha256(data).hexdigest()}"


def digest_text(text: str) -> str:
    """``sha256:<hex>`` of UTF-8 text."""
    return digest_bytes(text.encode("utf-8"))


def digest_json(value: Any) -> str:
    """Digest of a JSON value in canonical form (sorted keys, no whitespace)."""
    return digest_text(json.dumps(value, sort_keys=True, separators=(",", ":"), default=str))


def _file_digest(path: str) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def digest_path(path: str, *, exclude: Collection[str] = ()) -> tuple[str, int]:
    """``(digest, total_size)`` of a file, or of a folder's tree (relative paths + contents);
    ``exclude`` names relative paths of the tree left out (a marker written after the digest).

    Two folders with the same files at the same relative paths have the same digest, wherever
    they are; file modes and timestamps do not count.
    """
    if os.path.isfile(path):
        hexd, size = _file_digest(path)
        return f"{ALGORITHM}:{hexd}", size
    if not os.path.isdir(path):
        raise FileNotFoundError(path)
    h = hashlib.sha256(b"conveyor-tree-v1\0")
    total = 0
    entries: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, path).replace(os.sep, "/")
            if rel in exclude:
                continue
            hexd, size = _file_digest(full)
            total += size
            entries.append((rel, hexd))
    for rel, hexd in sorted(entries):
        h.update(rel.encode("utf-8") + b"\0" + hexd.encode("ascii") + b"\n")
    return f"{ALGORITHM}:{h.hexdigest()}", total
