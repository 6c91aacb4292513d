"""``conveyor runs retry|clone|terminate|archive|restore|delete`` (to be built)."""

from __future__ import annotations

import click

__all__ = ["ACTIONS"]

ACTIONS: tuple[click.Command, ...] = ()
"""The action commands, added to the ``conveyor runs`` group."""
