"""Evaluating and describing the IR's conditions (``If`` groups, a loop's stop condition)."""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from typing import Any

from conveyor.ir.spec import (
    CollectedRef,
    Condition,
    Constant,
    ListRef,
    LoopCarryRef,
    LoopItemRef,
    OneOfRef,
    PipelineParameterRef,
    TaskOutputRef,
    ValueRef,
)

__all__ = ["ConditionError", "describe", "evaluate"]

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class ConditionError(ValueError):
    """A condition cannot be evaluated on the values it got (e.g. ``None < 3``)."""


def evaluate(cond: Condition, value_of: Callable[[ValueRef], Any]) -> bool:
    """The truth of ``cond``, reading each compared reference with ``value_of``."""
    if cond.op == "and":
        return all(evaluate(_cond(a), value_of) for a in cond.args)
    if cond.op == "or":
        return any(evaluate(_cond(a), value_of) for a in cond.args)
    if cond.op == "not":
        return not evaluate(_cond(cond.args[0]), value_of)
    left, right = (value_of(_ref(a)) for a in cond.args)
    if cond.op in ("in", "not in"):
        if not isinstance(right, list | tuple | str | dict):
            raise ConditionError(f"{cond.op!r} needs a list on its right, got {right!r}")
        found = left in right
        return found if cond.op == "in" else not found
    try:
        result = _COMPARE[cond.op](left, right)
    except TypeError as exc:
        raise ConditionError(f"{left!r} {cond.op} {right!r} cannot be compared ({exc})") from exc
    return bool(result)


def describe(cond: Condition | ValueRef) -> str:
    """A short readable form: ``evaluator.blessed == true``."""
    if isinstance(cond, Condition):
        if cond.op == "not":
            return f"not ({describe(cond.args[0])})"
        if cond.op in ("and", "or"):
            return f" {cond.op} ".join(f"({describe(a)})" for a in cond.args)
        return f"{describe(cond.args[0])} {cond.op} {describe(cond.args[1])}"
    if isinstance(cond, Constant):
        return json.dumps(cond.value)
    if isinstance(cond, PipelineParameterRef):
        return f"parameter {cond.name}"
    if isinstance(cond, TaskOutputRef | CollectedRef):
        return f"{cond.task}.{cond.output}"
    if isinstance(cond, LoopItemRef):
        return f"item of {cond.group}" + (f"[{cond.key!r}]" if cond.key else "")
    if isinstance(cond, LoopCarryRef):
        return f"{cond.group}.{cond.name}"
    if isinstance(cond, ListRef | OneOfRef):
        return "[" + ", ".join(describe(i) for i in cond.items) + "]"
    return type(cond).__name__


def _cond(arg: ValueRef | Condition) -> Condition:
    if not isinstance(arg, Condition):
        raise ConditionError(f"expected a condition, got {arg!r}")
    return arg


def _ref(arg: ValueRef | Condition) -> ValueRef:
    if isinstance(arg, Condition):
        raise ConditionError(f"expected a value, got the condition {describe(arg)}")
    return arg
