"""``conveyor models ...``: the model registry from the command line (list, show, versions,
register, alias, promote, rollback, history), every command with ``--json``.

Exit codes: 0 ok, 2 usage or a missing model/alias/version, 1 refused (an unblessed version)
or another failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import click

from conveyor.cli._common import _echo_json, _errors, _settings

__all__ = ["models"]


@contextmanager
def _registry() -> Iterator[Any]:
    """The settings' metadata store, as a model registry."""
    from conveyor.errors import StoreError
    from conveyor.metadata import connect
    from conveyor.metadata.registry import ModelRegistry

    url = _settings().metadata_url
    store = connect(url)
    try:
        if not isinstance(store, ModelRegistry):
            raise StoreError(f"The metadata store {url!r} has no model registry.")
        yield store
    except ValueError as exc:  # a wrong argument (a non-Model artifact, a bad alias name)
        raise click.UsageError(str(exc)) from None
    finally:
        store.close()


def _plain(record: Any) -> dict[str, Any]:
    """A registry record as JSON-ready data (times as ISO 8601 text)."""
    data = asdict(record)
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = value.isoformat()
        elif isinstance(value, tuple):
            data[key] = list(value)
    return data


def _version_line(v: Any) -> str:
    aliases = f"  [{', '.join(v.aliases)}]" if v.aliases else ""
    made = v.created_at.strftime("%Y-%m-%d %H:%M:%S")
    return f"  {v.version:>4}  artifact {v.artifact_id:<6} {made}  {v.uri}{aliases}"


def _change_line(c: Any) -> str:
    move = f"{c.from_version or '-'} -> {c.to_version or '(deleted)'}"
    forced = "  FORCED" if c.forced else ""
    reason = f"  ({c.reason})" if c.reason else ""
    when = c.changed_at.strftime("%Y-%m-%d %H:%M:%S.%f")
    return f"{when}  {c.alias:<12} {move:<16} by {c.actor}{forced}{reason}"


def _echo_change(change: Any, as_json: bool) -> None:
    if as_json:
        _echo_json(change.as_dict())
        return
    note = f" (forced: {change.reason})" if change.forced else ""
    click.echo(
        f"{change.model_name}@{change.alias}: {change.from_version or '-'} -> "
        f"{change.to_version}{note}"
    )


def _reason_for(force: bool, reason: str | None) -> str:
    if force and not (reason or "").strip():
        raise click.UsageError("--force needs --reason TEXT (it is recorded in the history).")
    return reason or ""


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group()
def models() -> None:
    """The model registry: named models, versions, aliases (champion, ...) and their history.

    Load a registered version with conveyor.load_model("models:/NAME@ALIAS").
    """


@models.command("list")
@json_option
@_errors
def list_models(as_json: bool) -> None:
    """Every registered model, its latest version and aliases."""
    with _registry() as reg:
        found = reg.list_models()
    if as_json:
        _echo_json([_plain(m) for m in found])
        return
    if not found:
        click.echo("No registered models. Register one: conveyor models register NAME ARTIFACT_ID")
    for m in found:
        aliases = ", ".join(f"{a} -> {v}" for a, v in m.aliases.items()) or "no aliases"
        click.echo(f"{m.name}  latest {m.latest_version or '-'}  {aliases}")


@models.command()
@click.argument("name")
@json_option
@_errors
def show(name: str, as_json: bool) -> None:
    """A model: description, tags, aliases and versions."""
    with _registry() as reg:
        model, versions = reg.get_model(name), reg.list_model_versions(name)
    if as_json:
        _echo_json({**_plain(model), "versions": [_plain(v) for v in versions]})
        return
    click.echo(f"{model.name}  {model.description}".rstrip())
    if model.tags:
        click.echo(f"tags: {model.tags}")
    for alias, version in model.aliases.items():
        click.echo(f"{alias} -> version {version}")
    click.echo("versions:")
    for v in versions:
        click.echo(_version_line(v))


@models.command()
@click.argument("name")
@json_option
@_errors
def versions(name: str, as_json: bool) -> None:
    """The versions of a model, oldest first."""
    with _registry() as reg:
        found = reg.list_model_versions(name)
    if as_json:
        _echo_json([_plain(v) for v in found])
        return
    for v in found:
        click.echo(_version_line(v))


@models.command()
@click.argument("name")
@click.argument("artifact_id", type=int)
@click.option("--description", default="", help="What this version is.")
@json_option
@_errors
def register(name: str, artifact_id: int, description: str, as_json: bool) -> None:
    """Add a version of NAME bound to the Model artifact ARTIFACT_ID (registering NAME first
    if needed). `conveyor runs show RUN_ID` shows a run's artifact ids."""
    with _registry() as reg:
        reg.register_model(name, exist_ok=True)
        version = reg.create_model_version(name, artifact_id, description=description)
    if as_json:
        _echo_json(_plain(version))
        return
    click.echo(f"{name} version {version.version}: artifact {artifact_id} ({version.uri})")


def _set(name: str, alias: str, version: int, force: bool, reason: str | None) -> Any:
    why = _reason_for(force, reason)
    with _registry() as reg:
        return reg.set_alias(name, alias, version, force=force, reason=why)


force_option = click.option(
    "--force", is_flag=True, help="Move even if no evaluation blessed the version (needs --reason)."
)
reason_option = click.option("--reason", help="Why (recorded in the alias history).")


@models.command()
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=int)
@force_option
@reason_option
@json_option
@_errors
def alias(
    name: str, alias: str, version: int, force: bool, reason: str | None, as_json: bool
) -> None:
    """Point ALIAS of NAME at VERSION (refused, exit 1, unless the version is blessed or
    --force --reason is given)."""
    _echo_change(_set(name, alias, version, force, reason), as_json)


@models.command()
@click.argument("name")
@click.argument("version", type=int)
@click.option("--to", "to", default="champion", show_default=True, help="The alias to move.")
@force_option
@reason_option
@json_option
@_errors
def promote(
    name: str, version: int, to: str, force: bool, reason: str | None, as_json: bool
) -> None:
    """Promote VERSION of NAME: point the alias (default champion) at it."""
    _echo_change(_set(name, to, version, force, reason), as_json)


@models.command()
@click.argument("name")
@click.option("--alias", "alias_name", default="champion", show_default=True)
@reason_option
@json_option
@_errors
def rollback(name: str, alias_name: str, reason: str | None, as_json: bool) -> None:
    """Move the alias back to the version it pointed at before its last change (recorded as
    a move)."""
    with _registry() as reg:
        change = reg.rollback_alias(name, alias_name, reason=reason or "")
    _echo_change(change, as_json)


def _when(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-12-07T17:00:00Z)", param_hint="--at"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@models.command()
@click.argument("name")
@click.option("--alias", "alias_name", help="Only this alias.")
@click.option("--at", "at", help="Where --alias pointed at this ISO time (UTC if no zone).")
@json_option
@_errors
def history(name: str, alias_name: str | None, at: str | None, as_json: bool) -> None:
    """Every alias move of NAME, oldest first; with --alias A --at TIME, where A pointed then."""
    if at is not None:
        if alias_name is None:
            raise click.UsageError("--at needs --alias (which alias to look up).")
        when = _when(at)
        with _registry() as reg:
            reg.get_model(name)  # a missing model is an error, not "unset"
            version = reg.alias_at(name, alias_name, when)
        found = None if version is None else _plain(version)
        if as_json:
            _echo_json(
                {"model": name, "alias": alias_name, "at": when.isoformat(), "version": found}
            )
        elif version is None:
            click.echo(f"{name}@{alias_name} was not set at {when.isoformat()}")
        else:
            click.echo(
                f"{name}@{alias_name} at {when.isoformat()}: {_version_line(version).strip()}"
            )
        return
    with _registry() as reg:
        changes = reg.alias_history(name, alias_name)
    if as_json:
        _echo_json([c.as_dict() for c in changes])
        return
    for c in changes:
        click.echo(_change_line(c))
