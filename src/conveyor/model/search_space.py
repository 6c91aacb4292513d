"""The search space of hyperparameter tuning: its JSON form, checked into ``ParamSpec``'s.

See :mod:`conveyor.model.tuning` for the format; every entry is checked (names, types, bounds,
and values the estimator accepts) before the search starts.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conveyor.model.presets import create_estimator, resolve_preset

__all__ = ["ParamSpec", "parse_search_space"]

_TYPES = ("float", "int", "categorical")
_KEYS = {
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}


@dataclass(frozen=True)
class ParamSpec:
    """One entry of the search space: a distribution, or a fixed value (``type == "fixed"``)."""

    name: str
    type: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()
    value: Any = None

    def grid(self) -> list[Any]:
        """Every value of this entry on a grid (a float needs a ``step``)."""
        if self.type == "fixed":
            return [self.value]
        if self.type == "categorical":
            return list(self.choices)
        assert self.low is not None and self.high is not None
        if self.type == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        assert self.step is not None
        count = math.floor((self.high - self.low) / self.step + 1e-9) + 1
        return [float(round(self.low + i * self.step, 12)) for i in range(count)]


def is_number(value: Any) -> bool:
    """An int or float, not a bool (a bool is an int to Python, never a bound here)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse_entry(where: str, name: str, spec: Any) -> ParamSpec:
    if not isinstance(spec, Mapping):
        return ParamSpec(name, "fixed", value=spec)
    kind = spec.get("type")
    if kind not in _TYPES:
        raise ValueError(
            f"Search space entry {where}: 'type' must be one of {list(_TYPES)}, got {kind!r}"
        )
    unknown = sorted(set(spec) - _KEYS[kind])
    if unknown:
        raise ValueError(
            f"Search space entry {where}: unknown key(s) {unknown!r} for a {kind}; "
            f"use {sorted(_KEYS[kind])!r}"
        )
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list | tuple) or not choices:
            raise ValueError(
                f"Search space entry {where}: 'choices' must be a non-empty list, got {choices!r}"
            )
        for choice in choices:
            if choice is not None and not isinstance(choice, bool | int | float | str):
                raise ValueError(
                    f"Search space entry {where}: choice {choice!r} is a "
                    f"{type(choice).__name__}; choices must be numbers, strings, booleans "
                    "or null"
                )
        return ParamSpec(name, kind, choices=tuple(choices))
    low, high, log, step = (
        spec.get("low"),
        spec.get("high"),
        spec.get("log", False),
        spec.get("step"),
    )
    expected = "an integer" if kind == "int" else "a number"
    for key, value in (("low", low), ("high", high)):
        if not is_number(value) or (kind == "int" and not isinstance(value, int)):
            raise ValueError(
                f"Search space entry {where}: {key!r} must be {expected}, got {value!r}"
            )
        if not math.isfinite(float(value or 0)):
            raise ValueError(f"Search space entry {where}: {key!r} must be finite, got {value!r}")
    assert low is not None and high is not None
    if low > high:
        raise ValueError(f"Search space entry {where}: low ({low!r}) > high ({high!r})")
    if not isinstance(log, bool):
        raise ValueError(f"Search space entry {where}: 'log' must be true or false, got {log!r}")
    if log and low <= 0:
        raise ValueError(f"Search space entry {where}: a log scale needs low > 0, got {low!r}")
    if step is not None:
        if not is_number(step) or step <= 0 or (kind == "int" and not isinstance(step, int)):
            raise ValueError(
                f"Search space entry {where}: 'step' must be a positive "
                f"{'integer' if kind == 'int' else 'number'}, got {step!r}"
            )
        if log and kind == "float":
            raise ValueError(f"Search space entry {where}: 'step' and 'log' cannot be combined")
    return ParamSpec(name, kind, low=low, high=high, log=log, step=step)


def allowed_names(preset: str, task: str) -> set[str]:
    """The hyperparameter names ``preset`` accepts: its estimator's and the preset's extras."""
    estimator, resolved = create_estimator(preset, task)
    return set(estimator.get_params(deep=False)) | set(resolved.extra_parameters)


def parse_search_space(
    search_space: Mapping[str, Any], task: str, presets: Sequence[str] | None = None
) -> dict[str, list[ParamSpec]]:
    """Check the search space and return ``{preset: [ParamSpec, ...]}``.

    ``presets`` restricts (and orders) the presets searched; a listed preset missing from the
    space is tried with its defaults.

    Raises:
        ValueError: an unknown preset or hyperparameter (with the closest names), a wrong
            type, ``low > high``, or a value the estimator refuses, naming the entry.

    Example:
        >>> space = parse_search_space({"sklearn:LogisticRegression": {"C": {"type": "float",
        ...     "low": 0.01, "high": 10, "log": True}}}, "classification")
        >>> space["sklearn:LogisticRegression"][0].high
        10
    """
    if not isinstance(search_space, Mapping):
        raise ValueError(
            f"search_space must be an object {{preset: {{hyperparameter: spec}}}}, got "
            f"{type(search_space).__name__}"
        )
    names = list(presets) if presets else list(search_space)
    if not names:
        raise ValueError("The search space is empty: name at least one preset")
    for name in search_space:
        if name not in names:
            raise ValueError(
                f"Search space preset {name!r} is not among the presets searched {names!r}"
            )
    out: dict[str, list[ParamSpec]] = {}
    for preset in names:
        try:
            resolve_preset(preset, task)
        except ValueError as exc:
            raise ValueError(f"Search space entry {preset!r}: {exc}") from exc
        entries = search_space.get(preset)
        entries = {} if entries is None else entries
        if not isinstance(entries, Mapping):
            raise ValueError(
                f"Search space entry {preset!r} must be an object {{hyperparameter: spec}}, "
                f"got {entries!r}"
            )
        allowed = allowed_names(preset, task)
        specs: list[ParamSpec] = []
        for name, raw in entries.items():
            where = f"{preset!r}.{name!r}"
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=3)
                hint = f" Did you mean {close!r}?" if close else ""
                raise ValueError(
                    f"Search space entry {where}: {preset!r} has no hyperparameter {name!r}.{hint}"
                )
            specs.append(_parse_entry(where, name, raw))
        _check_values(preset, task, specs)
        out[preset] = specs
    return out


def _check_values(preset: str, task: str, specs: list[ParamSpec]) -> None:
    """Build the estimator with every bound and choice, so a bad value fails before the search."""
    for spec in specs:
        if spec.type == "fixed":
            values = [spec.value]
        elif spec.type == "categorical":
            values = list(spec.choices)
        else:
            values = [spec.low, spec.high]
        for value in values:
            try:
                create_estimator(preset, task, {spec.name: value})
            except ValueError as exc:
                raise ValueError(f"Search space entry {preset!r}.{spec.name!r}: {exc}") from exc
