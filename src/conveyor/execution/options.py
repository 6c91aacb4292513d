"""Task options bound to run-time values (``TaskSpec.dynamic``): resolve and check them."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from conveyor.errors import OptionError
from conveyor.ir.spec import TaskSpec

__all__ = ["OptionError", "resolve_options"]


def _number(task: str, key: str, value: Any, *, integer: bool, minimum: float) -> Any:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and integer:
        ok = float(value).is_integer()
    if not ok or value < minimum:
        kind = "an integer" if integer else "a number"
        raise OptionError(
            f"Task {task!r}: option {key!r} got {value!r} at run time; it must be {kind} >= "
            f"{minimum:g}. Check the pipeline parameter or upstream output it is bound to"
        )
    return int(value) if integer else float(value)


def resolve_options(task: TaskSpec, values: Mapping[str, Any]) -> TaskSpec:
    """``task`` with its run-time options (``values`` by option name) filled in.

    Raises:
        OptionError: a value of the wrong type or out of range, naming the task and option.
    """
    if not values:
        return task
    resources, retry, timeout = task.resources, task.retry, task.timeout_seconds
    name = task.name
    for key, value in values.items():
        if key == "cpu":
            cpu = _number(name, key, value, integer=False, minimum=0.001)
            resources = dataclasses.replace(resources, cpu=cpu)
        elif key == "gpu":
            resources = dataclasses.replace(
                resources, gpu=_number(name, key, value, integer=True, minimum=0)
            )
        elif key == "memory":
            from conveyor._internal.units import parse_memory

            try:
                parse_memory(value)
            except (TypeError, ValueError) as exc:
                raise OptionError(f"Task {name!r}: option 'memory' got {value!r}: {exc}") from exc
            resources = dataclasses.replace(resources, memory=str(value))
        elif key == "max_retries":
            retries = _number(name, key, value, integer=True, minimum=0)
            retry = dataclasses.replace(retry, max_retries=retries)
        elif key == "timeout_seconds":
            timeout = None if value is None else _number(name, key, value, integer=False, minimum=0)
            if timeout == 0:
                raise OptionError(f"Task {name!r}: option 'timeout_seconds' must be > 0, got 0")
        else:
            raise OptionError(f"Task {name!r}: unknown run-time option {key!r}")
    return dataclasses.replace(task, resources=resources, retry=retry, timeout_seconds=timeout)
