"""The UI benchmark's checks of the answers: each takes the parsed JSON and returns what is
wrong with it, or None."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from _ui_data import SPIKE

Check = Callable[[Any], str | None]


def total(expected: int, length: int | None = None) -> Check:
    def check(body: Any) -> str | None:
        if body.get("total") != expected:
            return f"total {body.get('total')}, not {expected}"
        if length is not None and len(body.get("runs", ())) != length:
            return f"{len(body.get('runs', ()))} runs, not {length}"
        return None

    return check


def first(run_id: str) -> Check:
    def check(body: Any) -> str | None:
        runs = body.get("runs") or [{}]
        got = runs[0].get("run_id")
        return None if got == run_id else f"first run {got}, not {run_id}"

    return check


def mentions(*words: str, length: tuple[str, int] | None = None) -> Check:
    def check(body: Any) -> str | None:
        text = json.dumps(body)
        missing = [w for w in words if w not in text]
        if missing:
            return f"the answer does not name {missing}"
        if length is not None and len(body.get(length[0]) or ()) != length[1]:
            return f"{len(body.get(length[0]) or ())} {length[0]}, not {length[1]}"
        return None

    return check


def run_detail(steps: int) -> Check:
    def check(body: Any) -> str | None:
        tasks = body.get("tasks") or body.get("executions") or []
        return None if len(tasks) == steps else f"{len(tasks)} tasks, not {steps}"

    return check


def series(max_points: int, raw: int) -> Check:
    """At most ``max_points`` points, the raw count said, the planted spike kept."""

    def check(body: Any) -> str | None:
        lists: list[list[Any]] = []
        _walk(body, lists)
        if not lists:
            return "no points in the answer"
        ys = max(lists, key=len)
        if len(ys) > max_points:
            return f"{len(ys)} points, more than max_points={max_points}"
        if SPIKE not in ys:
            return f"the spike {SPIKE} is not among the {len(ys)} points"
        if raw not in _ints(body):
            return f"the raw count {raw} is not in the answer"
        return None

    return check


def _is_point(p: Any) -> bool:
    """``[x, y]`` or ``{"value": y, ...}`` / ``{"y": y, ...}``."""
    if isinstance(p, list):
        return len(p) >= 2
    return isinstance(p, dict) and ("value" in p or "y" in p)


def _ys(points: list[Any]) -> list[Any]:
    return [p[1] if isinstance(p, list) else p.get("value", p.get("y")) for p in points]


def _walk(node: Any, out: list[list[Any]]) -> None:
    """The values of every series in the answer, into ``out``: a column (``{"value": [y,
    ...]}``), or a list of points (``[[x, y], ...]``, ``[{"value": y}, ...]``)."""
    if isinstance(node, dict):
        column = node.get("value", node.get("values"))
        if isinstance(column, list) and all(isinstance(y, int | float) for y in column[:3]):
            out.append(column)
        for value in node.values():
            _walk(value, out)
    elif isinstance(node, list):
        if node and all(_is_point(p) for p in node[:3]):
            out.append(_ys(node))
        for value in node:
            if isinstance(value, dict | list):
                _walk(value, out)


def _ints(node: Any) -> set[int]:
    if isinstance(node, dict):
        return set().union(*(_ints(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_ints(v) for v in node)) if node else set()
    return {node} if isinstance(node, int) and not isinstance(node, bool) else set()


def mlflow_runs(expected: int, first: str = "") -> Check:
    def check(body: Any) -> str | None:
        runs = body.get("runs", [])
        if len(runs) != min(100, expected):
            return f"{len(runs)} runs, not {min(100, expected)}"
        if first and runs[0]["info"]["run_name"] != first:
            return f"first run {runs[0]['info']['run_name']}, not {first}"
        return None

    return check
