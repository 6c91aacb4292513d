"""The Conveyor release, importable from every layer (the IR records it, cache keys hold it)."""

from __future__ import annotations

__all__ = ["VERSION"]

VERSION = "0.1.0"
"""This release; ``conveyor.__version__`` and the ``version`` in ``pyproject.toml`` match it."""
