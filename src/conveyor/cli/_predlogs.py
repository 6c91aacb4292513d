"""The options that pick rows of prediction logs (``conveyor data stats --from-predictions``,
``conveyor data validate --serving LOGDIR``): a time window, roles, a model and a version."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, TypeVar

import click

__all__ = ["log_options"]

F = TypeVar("F", bound=Callable[..., Any])

_ROLES = ("primary", "canary", "shadow")  # conveyor.data.prediction_logs.ROLES (no Arrow here)

_OPTIONS = (
    click.option(
        "--since",
        default=None,
        metavar="TIME",
        help="Prediction logs: rows logged at or after TIME (ISO date or time, UTC unless it "
        "says; or a duration back from now: 30m, 2h, 7d).",
    ),
    click.option(
        "--until", default=None, metavar="TIME", help="Prediction logs: rows logged before TIME."
    ),
    click.option(
        "--role",
        "roles",
        multiple=True,
        type=click.Choice(_ROLES),
        help="Prediction logs: the roles to read (repeatable; default primary and canary).",
    ),
    click.option(
        "--model", "log_model", default=None, help="Prediction logs: only this model's rows."
    ),
    click.option(
        "--model-version",
        "log_version",
        default=None,
        help="Prediction logs: only this version's rows.",
    ),
)


def log_options(fn: F) -> F:
    """Add the prediction log options to a command; it receives them as one ``logs``
    argument (a ``conveyor.data.prediction_logs.LogSelection``)."""

    @wraps(fn)
    def wrapper(
        *args: Any,
        since: str | None,
        until: str | None,
        roles: Sequence[str],
        log_model: str | None,
        log_version: str | None,
        **kwargs: Any,
    ) -> Any:
        from conveyor.data.prediction_logs import LogSelection, TimeWindow, parse_time

        try:
            window = TimeWindow(
                since=None if since is None else parse_time(since),
                until=None if until is None else parse_time(until),
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        logs = LogSelection(
            window=window,
            roles=tuple(roles) or ("primary", "canary"),
            model=log_model,
            version=log_version,
        )
        return fn(*args, logs=logs, **kwargs)

    out: Any = wrapper
    for option in reversed(_OPTIONS):
        out = option(out)
    return out  # type: ignore[no-any-return]
