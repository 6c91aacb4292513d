"""Shared pieces of the CLI commands: settings, parameters, error mapping, output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, NoReturn, TypeVar

import click

from conveyor.errors import (
    CompilationError,
    ConfigError,
    ConveyorError,
    DefinitionError,
    NotFoundError,
)

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


def run_exit_code(state: str) -> int:
    """The exit code of a command that ran a pipeline: 0 complete, 130 cancelled, else 1."""
    return {"COMPLETE": EXIT_OK, "CANCELED": EXIT_CANCELLED}.get(state, EXIT_FAILED)


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    # Bind the stream now: an in-process run redirects sys.stdout into the step's log, and
    # the console must keep writing to the real terminal.
    return Console(file=sys.stderr if stderr else sys.stdout, highlight=False)


def _errors(fn: F) -> F:
    """Map Conveyor errors to a clean message and the documented exit code (Rich loads only
    to print one)."""

    def fail(label: str, exc: Exception, code: int) -> NoReturn:
        from rich.markup import escape

        _console(stderr=True).print(f"[bold red]{label}:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(code)

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (DefinitionError, ConfigError, CompilationError) as exc:
            fail("error", exc, EXIT_USAGE)
        except NotFoundError as exc:
            fail("not found", exc, EXIT_USAGE)
        except ConveyorError as exc:
            fail("error", exc, EXIT_FAILED)

    return wrapper  # type: ignore[return-value]


def _settings(home: str | None = None) -> Any:
    from conveyor.config import Settings

    return Settings.load(overrides={"home": home} if home else None)


def _params(pairs: Sequence[str]) -> dict[str, Any]:
    from conveyor.execution.params import parse_cli_value

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DefinitionError(f"--param takes NAME=VALUE, got {pair!r}")
        out[key.strip()] = parse_cli_value(value)
    return out


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
