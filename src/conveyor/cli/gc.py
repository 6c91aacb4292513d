"""``conveyor gc``: free the artifacts of archived and deleted runs (to be built)."""

from __future__ import annotations

import click

from conveyor.cli._common import _errors

__all__ = ["gc"]


@click.command(name="gc")
@click.option("--dry-run", is_flag=True, help="List what would be deleted, and its size.")
@_errors
def gc(dry_run: bool) -> None:
    """Delete the artifacts of archived and deleted runs that nothing kept still needs."""
    raise click.UsageError("conveyor gc is not built yet")
