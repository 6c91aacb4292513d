"""Conditions over values known only at run time: comparisons of task outputs, pipeline
parameters and loop items, combined with ``&``, ``|`` and ``~``."""

from __future__ import annotations

import abc
import json
import sys
from typing import Any

from conveyor.dsl.annotations import coerce_value, json_literal_matches
from conveyor.errors import DefinitionError
from conveyor.ir.spec import Condition, Constant, ListRef, ValueRef
from conveyor.ir.validate import param_type_compatible

__all__ = ["ConditionExpr", "RuntimeValue", "as_condition", "caller_location", "fail_here"]


def caller_location() -> tuple[str | None, int | None]:
    """File and line of the innermost frame outside ``conveyor.dsl``: the user's line."""
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith(
        "conveyor.dsl"
    ):
        frame = frame.f_back
    return frame.f_code.co_filename, frame.f_lineno


def _upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def fail_here(message: str) -> DefinitionError:
    """A :class:`DefinitionError` pointing at the user's line."""
    source_file, lineno = caller_location()
    return DefinitionError(message, source_file=source_file, lineno=lineno)


_NO_IF = (
    "has no value while the pipeline is built, so it cannot drive a Python `if`, `and`, `or`, "
    "`not` or a chained comparison (a < x < b). Use it in conveyor.If(...) or "
    "loop.stop_when(...), and combine conditions with &, | and ~, e.g. (x > 1) & (y < 2)"
)


class RuntimeValue(abc.ABC):
    """Base of the placeholders whose value is known only when the pipeline runs.

    Comparing one (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, :meth:`is_in`, :meth:`not_in`)
    builds a :class:`ConditionExpr` for ``conveyor.If`` or ``loop.stop_when``.
    """

    @abc.abstractmethod
    def condition_operand(self) -> tuple[ValueRef, str | None]:
        """The IR reference of this value in a condition, and its JSON type (None: unknown)."""

    @abc.abstractmethod
    def describe(self) -> str:
        """What this value is, for messages (``output 'acc' of task 'eval'``)."""

    def __eq__(self, other: object) -> ConditionExpr:  # type: ignore[override]
        return _compare("==", self, other)

    def __ne__(self, other: object) -> ConditionExpr:  # type: ignore[override]
        return _compare("!=", self, other)

    def __lt__(self, other: object) -> ConditionExpr:
        return _compare("<", self, other)

    def __le__(self, other: object) -> ConditionExpr:
        return _compare("<=", self, other)

    def __gt__(self, other: object) -> ConditionExpr:
        return _compare(">", self, other)

    def __ge__(self, other: object) -> ConditionExpr:
        return _compare(">=", self, other)

    # Comparison methods would otherwise make instances unhashable; identity is what dicts need.
    __hash__ = object.__hash__

    def is_in(self, values: Any) -> ConditionExpr:
        """The condition "this value is one of ``values``" (a list, or a list-valued output)."""
        return _compare("in", self, values)

    def not_in(self, values: Any) -> ConditionExpr:
        """The condition "this value is none of ``values``"."""
        return _compare("not in", self, values)

    def __bool__(self) -> bool:
        raise fail_here(f"{_upper(self.describe())} {_NO_IF}")

    def _as_part(self, op: str) -> ConditionExpr:
        """This value as one side of ``&``, ``|`` or ``~``: a boolean ``x`` means ``x == True``."""
        _, json_type = self.condition_operand()
        if json_type not in (None, "any", "boolean"):
            raise fail_here(
                f"{_upper(self.describe())} is {json_type}, not a condition, so {op!r} cannot "
                "combine it: compare it first and put each comparison in parentheses, e.g. "
                "(x > 1) & (y == 'a')"
            )
        return as_condition(self, op)

    def __and__(self, other: object) -> ConditionExpr:
        return self._as_part("&") & other

    def __rand__(self, other: object) -> ConditionExpr:
        return _part(other, "&") & self._as_part("&")

    def __or__(self, other: object) -> ConditionExpr:
        return self._as_part("|") | other

    def __ror__(self, other: object) -> ConditionExpr:
        return _part(other, "|") | self._as_part("|")

    def __invert__(self) -> ConditionExpr:
        return ~self._as_part("~")


class ConditionExpr:
    """A condition over run-time values, for ``conveyor.If``/``Elif`` and ``loop.stop_when``.

    Build one by comparing task outputs, pipeline parameters or loop items; combine with ``&``
    (and), ``|`` (or) and ``~`` (not).

    Example:
        >>> from conveyor import If, component, pipeline
        >>> @component
        ... def score() -> float:
        ...     return 0.9
        >>> @component
        ... def deploy() -> None: ...
        >>> @pipeline
        ... def gated(mode: str = "auto"):
        ...     s = score()
        ...     with If((s.output >= 0.8) & (mode != "off")):
        ...         deploy()
        >>> gated.spec.groups["condition-1"].condition.op
        'and'
    """

    def __init__(self, condition: Condition, values: tuple[RuntimeValue, ...] = ()):
        self.condition = condition
        self.values = values

    def _combine(self, op: str, other: object) -> ConditionExpr:
        other = _part(other, op)
        args: list[ValueRef | Condition] = []
        for part in (self.condition, other.condition):
            # a & b & c is one 'and' of three conditions, which reads better in the IR
            args.extend(part.args if part.op == op else (part,))
        return ConditionExpr(Condition(op, tuple(args)), self.values + other.values)

    def __and__(self, other: object) -> ConditionExpr:
        return self._combine("and", other)

    def __or__(self, other: object) -> ConditionExpr:
        return self._combine("or", other)

    def __rand__(self, other: object) -> ConditionExpr:
        return _part(other, "and")._combine("and", self)

    def __ror__(self, other: object) -> ConditionExpr:
        return _part(other, "or")._combine("or", self)

    def __invert__(self) -> ConditionExpr:
        return ConditionExpr(Condition("not", (self.condition,)), self.values)

    def __bool__(self) -> bool:
        raise fail_here(f"A condition {_NO_IF}")

    def __repr__(self) -> str:
        return f"ConditionExpr({self.condition!r})"


def _part(value: object, op: str) -> ConditionExpr:
    """``value`` as an operand of ``&``/``|``: a condition, or a boolean run-time value."""
    if isinstance(value, ConditionExpr):
        return value
    if isinstance(value, RuntimeValue):
        return value._as_part(op)
    raise fail_here(
        f"{op!r} combines two conditions, got {value!r}. Compare values first and put each "
        "comparison in parentheses, e.g. (x > 1) & (y == 'a')"
    )


def _literal(value: object, what: str) -> Constant:
    if isinstance(value, set | frozenset):
        value = sorted(value, key=lambda v: json.dumps(v, sort_keys=True, default=repr))
    if isinstance(value, ConditionExpr):
        raise fail_here(
            f"{what} compares values, got a condition; combine conditions with & | ~ instead"
        )
    if not json_literal_matches(value, "any"):
        raise fail_here(
            f"{what} compares with {value!r}, which is not a JSON value. Compare with a "
            "string, number, boolean, None, a list or a dict, or with task.outputs['NAME']"
        )
    return Constant(coerce_value(value, "array"))


def _fits_type(value: object, json_type: str | None) -> bool:
    if json_type in (None, "any") or value is None:
        return True
    # an integer output may be compared with 0.5: Python compares across int and float
    return json_literal_matches(value, "number" if json_type == "integer" else json_type)


def _compare(op: str, left: RuntimeValue, right: object) -> ConditionExpr:
    lref, ltype = left.condition_operand()
    what = f"Comparing {left.describe()}"
    values: list[RuntimeValue] = [left]
    if op in ("in", "not in"):
        rref = _collection(right, ltype, what, values)
    elif isinstance(right, RuntimeValue):
        rref, rtype = right.condition_operand()
        values.append(right)
        known = None not in (ltype, rtype)
        if known and not (
            param_type_compatible(str(ltype), str(rtype))
            or param_type_compatible(str(rtype), str(ltype))
        ):
            raise fail_here(
                f"{what} ({ltype}) with {right.describe()} ({rtype}): the types differ, so the "
                f"condition would never hold. Compare values of the same type"
            )
    else:
        rref = _literal(right, what)
        if not _fits_type(rref.value, ltype):
            raise fail_here(
                f"{what} ({ltype}) with {right!r}, a value of another type, so the condition "
                f"would never hold. Compare it with a {ltype}"
            )
    return ConditionExpr(Condition(op, (lref, rref)), tuple(values))


def _collection(right: object, ltype: str | None, what: str, values: list[RuntimeValue]) -> Any:
    if isinstance(right, RuntimeValue):
        ref, rtype = right.condition_operand()
        if rtype not in (None, "any", "array"):
            raise fail_here(f"{what}: is_in()/not_in() take a list, got {right.describe()}")
        values.append(right)
        return ref
    if not isinstance(right, list | tuple | set | frozenset):
        raise fail_here(f"{what}: is_in()/not_in() take a list of values, got {right!r}")
    items = list(right)
    if any(isinstance(v, RuntimeValue) for v in items):
        refs: list[ValueRef] = []
        for item in items:
            if isinstance(item, RuntimeValue):
                refs.append(item.condition_operand()[0])
                values.append(item)
            else:
                refs.append(_literal(item, what))
        return ListRef(tuple(refs))
    constant = _literal(right, what)
    wrong = [v for v in constant.value if not _fits_type(v, ltype)]
    if wrong:
        raise fail_here(
            f"{what} ({ltype}) with {wrong[0]!r} in {list(constant.value)!r}, a value of "
            f"another type, so it would never match. List values of type {ltype}"
        )
    return constant


def as_condition(value: object, where: str) -> ConditionExpr:
    """``value`` as a condition: a :class:`ConditionExpr`, or a boolean run-time value ``x``
    meaning ``x == True``.

    Raises:
        DefinitionError: ``value`` is neither (``where`` names the caller, e.g. ``If(...)``).
    """
    if isinstance(value, ConditionExpr):
        return value
    if isinstance(value, RuntimeValue):
        ref, json_type = value.condition_operand()
        if json_type not in (None, "any", "boolean"):
            raise fail_here(
                f"{where} takes a condition such as x > 0.5, or a boolean value; "
                f"{value.describe()} is {json_type}. Compare it, e.g. x == ..."
            )
        return ConditionExpr(Condition("==", (ref, Constant(True))), (value,))
    if isinstance(value, bool):
        raise fail_here(
            f"{where} got {value!r}, which is known while the pipeline is built: use a Python "
            "`if` for that. Conditions compare run-time values, e.g. task.outputs['acc'] > 0.9"
        )
    raise fail_here(
        f"{where} takes a condition such as task.outputs['acc'] > 0.9 (or a boolean output or "
        f"pipeline parameter), got {value!r}"
    )
