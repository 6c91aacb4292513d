"""Local paths and remote URLs: the rules every reader and writer applies, and the guard that
keeps computed paths under their root."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

__all__ = ["check_segments", "is_remote", "is_under", "path_under", "segment_problem"]

_MAX_SEGMENT_BYTES = 255


def is_remote(path: str) -> bool:
    """Whether ``path`` is an fsspec URL of a remote store (``s3://``, ``memory://``), not a
    local path or ``file://`` URL.

    Example:
        >>> is_remote("s3://bucket/a.csv"), is_remote("file:///tmp/a.csv"), is_remote("a.csv")
        (True, False, False)
    """
    return "://" in path and not path.startswith("file://")


def segment_problem(part: str) -> str | None:
    """Why ``part`` cannot be one segment of a computed path, or None.

    Example:
        >>> segment_problem("train.12"), segment_problem("..")
        (None, "'..' is not a single path segment")
    """
    seps = [s for s in (os.sep, os.altsep, "/") if s]
    if part in ("", ".", "..") or "\0" in part or any(s in part for s in seps):
        return f"{part!r} is not a single path segment"
    if len(os.fsencode(part)) > _MAX_SEGMENT_BYTES:
        return f"{part[:40]!r}... is longer than {_MAX_SEGMENT_BYTES} bytes, the file name limit"
    return None


def check_segments(root: str, parts: Iterable[str], *, error: Callable[[str], Exception]) -> None:
    """Refuse ``parts`` unless each is one path segment (for paths and URLs under ``root``).

    Example:
        >>> check_segments("s3://b/artifacts", ["p", "r1"], error=ValueError)
        >>> check_segments("s3://b/artifacts", ["a/b"], error=ValueError)
        Traceback (most recent call last):
        ...
        ValueError: Refusing to write outside 's3://b/artifacts': 'a/b' is not a single path segment
    """
    for part in parts:
        problem = segment_problem(part)
        if problem is not None:
            raise error(f"Refusing to write outside {root!r}: {problem}")


def is_under(root: str, path: str) -> bool:
    """Whether ``path`` is ``root`` or inside it once symlinks are resolved (in either).

    Example:
        >>> is_under("/srv/home", "/srv/home/logs/r1"), is_under("/srv/home", "/srv/home/../x")
        (True, False)
    """
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def path_under(root: str, *parts: str, error: Callable[[str], Exception]) -> str:
    """``root`` joined with ``parts``, refused unless every part is one path segment and the
    result stays under ``root`` with symlinks resolved (a second guard behind the name rule).

    Args:
        root: the folder the path must stay in (artifact root, the logs folder).
        parts: path segments computed from names.
        error: builds the exception to raise from a message (the caller's error type).

    Example:
        >>> path_under("/srv/artifacts", "p", "r1", error=ValueError)
        '/srv/artifacts/p/r1'
        >>> path_under("/srv/artifacts", "..", "etc", error=ValueError)
        Traceback (most recent call last):
        ...
        ValueError: Refusing to write outside '/srv/artifacts': '..' is not a single path segment
    """
    check_segments(root, parts, error=error)
    path = os.path.join(root, *parts)
    if not is_under(root, path):
        raise error(
            f"Refusing to write at {path!r}: with symbolic links resolved it is "
            f"{os.path.realpath(path)!r}, outside {os.path.realpath(root)!r}. Remove the link "
            "or choose another root"
        )
    return path
