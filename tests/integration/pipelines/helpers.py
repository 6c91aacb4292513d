"""A local helper module: its source is part of the cache key of the steps that use it."""

SCALE = 2


def transform(text: str) -> str:
    """Upper-case every line."""
    return text.upper()
