"""Local paths and remote URLs: the one rule every reader and writer applies."""

from __future__ import annotations

__all__ = ["is_remote"]


def is_remote(path: str) -> bool:
    """Whether ``path`` is an fsspec URL of a remote store (``s3://``, ``memory://``), not a
    local path or ``file://`` URL.

    Example:
        >>> is_remote("s3://bucket/a.csv"), is_remote("file:///tmp/a.csv"), is_remote("a.csv")
        (True, False, False)
    """
    return "://" in path and not path.startswith("file://")
