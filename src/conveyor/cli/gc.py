"""``conveyor gc``: free the artifacts of archived and deleted runs that nothing kept needs."""

from __future__ import annotations

import os

import click

from conveyor.cli._common import _echo_json, _errors

__all__ = ["gc", "human_bytes"]


def human_bytes(n: int) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


@click.command(name="gc")
@click.option("--dry-run", is_flag=True, help="List what would be deleted, and its size.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan (or what was done) as JSON.")
@_errors
def gc(dry_run: bool, as_json: bool) -> None:
    """Delete the artifacts of archived and deleted runs that nothing kept still needs.

    An artifact is kept while a kept run's step, a cache hit or a registered model (or
    anything downstream of it) uses it, and only files under the artifact root are deleted.
    Deleted artifacts stay in the metadata (state DELETED, lineage intact); the step logs of
    deleted runs go too.
    """
    from conveyor.cli.run_actions import _print_plan, _stores
    from conveyor.operations import collect_garbage, plan_gc

    settings, metadata, storage = _stores()
    home = os.path.abspath(settings.home)
    if dry_run:
        plan = plan_gc(metadata, storage, home=home)
    else:
        plan = collect_garbage(metadata, storage, home=home)
    if as_json:
        _echo_json(plan.as_dict())
        return
    _print_plan(plan, "Would free" if dry_run else "Freed")
    for error in plan.errors:
        click.echo(f"could not remove {error}", err=True)
