"""Resolve input patterns with ``{SPAN}``, ``{VERSION}`` and ``{SPLIT}`` to files (TFX spans).

``data/span-{SPAN}/v{VERSION}/*.csv`` matches every drop of data; a span is a numbered drop
(a day, a week) and a version a re-export of the same span. By default the latest span wins,
in its latest version, so a new drop makes the files (and the run) change. ``{SPLIT}`` names
the folder of a pre-split input (``data/{SPLIT}/*.csv``).
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from typing import Any

from conveyor._internal.paths import is_remote
from conveyor.errors import ArtifactError

__all__ = ["SpanSelection", "has_placeholders", "resolve_pattern"]

_PLACEHOLDER = re.compile(r"\{(SPAN|VERSION|SPLIT)\}")


@dataclass(frozen=True)
class SpanSelection:
    """The files an input pattern resolved to.

    Attributes:
        files: the chosen files, sorted.
        span: the (latest) span chosen, or None when the pattern has no ``{SPAN}``.
        version: the version of that span, or None when the pattern has no ``{VERSION}``.
        spans: every span chosen (several for a range), each with its version.
        splits: split name to its files, when the pattern has ``{SPLIT}``.
    """

    files: list[str]
    span: int | None = None
    version: int | None = None
    spans: dict[int, int | None] = field(default_factory=dict)
    splits: dict[str, list[str]] = field(default_factory=dict)


def has_placeholders(pattern: str) -> bool:
    """Whether ``pattern`` has ``{SPAN}``, ``{VERSION}`` or ``{SPLIT}``.

    Example:
        >>> has_placeholders("data/span-{SPAN}/*.csv")
        True
    """
    return bool(_PLACEHOLDER.search(pattern))


def resolve_pattern(
    pattern: str,
    *,
    span: int | None = None,
    version: int | None = None,
    span_range: tuple[int, int] | None = None,
) -> SpanSelection:
    """The files of ``pattern`` for ``span`` and ``version`` (default: the latest of each).

    Args:
        pattern: a path or glob with ``{SPAN}``/``{VERSION}``/``{SPLIT}``, local or fsspec URL.
        span: the span to read (None: the latest).
        version: the version of that span (None: its latest).
        span_range: ``(first, last)`` spans, inclusive, each in its latest version.

    Raises:
        ArtifactError: no file matches, or the asked span/version does not exist.

    Example:
        >>> sel = resolve_pattern("data/span-{SPAN}/v{VERSION}/*.csv")  # doctest: +SKIP
        >>> sel.span, sel.version  # doctest: +SKIP
        (3, 2)
    """
    if span is not None and span_range is not None:
        raise ValueError("Give span or span_range, not both")
    matches = _match(pattern)
    if not matches:
        raise ArtifactError(
            f"No file matches {pattern!r} (working directory {os.getcwd()!r}). Check the "
            "pattern: {SPAN} and {VERSION} match digits, {SPLIT} a folder name"
        )
    has_span = "{SPAN}" in pattern
    has_version = "{VERSION}" in pattern
    if not has_span and (span is not None or span_range is not None):
        raise ValueError(f"span or span_range given but {pattern!r} has no {{SPAN}}")
    if has_span:
        available = sorted({m["span"] for _, m in matches})
        if span_range is not None:
            lo, hi = span_range
            wanted = [s for s in available if lo <= s <= hi]
            if not wanted:
                raise ArtifactError(
                    f"No span of {pattern!r} in {lo}..{hi}; the spans are {available!r}"
                )
        else:
            chosen = available[-1] if span is None else span
            if chosen not in available:
                raise ArtifactError(
                    f"Span {chosen} of {pattern!r} does not exist; the spans are {available!r}"
                )
            wanted = [chosen]
    else:
        wanted = [-1]
    spans: dict[int, int | None] = {}
    files: list[tuple[str, dict[str, Any]]] = []
    for s in wanted:
        of_span = [(f, m) for f, m in matches if not has_span or m["span"] == s]
        v: int | None = None
        if has_version:
            versions = sorted({int(str(m["version"])) for _, m in of_span})
            v = versions[-1] if version is None else version
            if v not in versions:
                raise ArtifactError(
                    f"Version {v} of span {s} of {pattern!r} does not exist; the versions "
                    f"are {versions!r}"
                )
            of_span = [(f, m) for f, m in of_span if m["version"] == v]
        if has_span:
            spans[s] = v
        files.extend(of_span)
    splits: dict[str, list[str]] = {}
    for f, m in files:
        if "split" in m:
            splits.setdefault(str(m["split"]), []).append(f)
    last = max(spans) if spans else None
    return SpanSelection(
        files=sorted(f for f, _ in files),
        span=last,
        version=spans.get(last) if last is not None else (version if has_version else None),
        spans=spans,
        splits={k: sorted(v) for k, v in splits.items()},
    )


def _match(pattern: str) -> list[tuple[str, dict[str, Any]]]:
    """Every file of the pattern, with the placeholders' values it matched."""
    url = is_remote(pattern)
    if url:
        import fsspec

        fs, pattern = fsspec.core.url_to_fs(pattern)
        names = {p: fs.unstrip_protocol(p) for p in fs.glob(_PLACEHOLDER.sub("*", pattern))}
        found = [p for p in names if not fs.isdir(p)]
    else:
        pattern = pattern.removeprefix("file://")
        found = [p for p in glob.glob(_PLACEHOLDER.sub("*", pattern), recursive=True)]
        found = [p for p in found if os.path.isfile(p)]
        names = {p: p for p in found}
    regex = _to_regex(pattern)
    out = []
    for f in found:
        m = regex.match(f)
        if m is None:
            continue
        values: dict[str, Any] = {}
        for key, value in m.groupdict().items():
            values[key] = value if key == "split" else int(value)
        out.append((names[f], values))
    return out


def _to_regex(pattern: str) -> re.Pattern[str]:
    """A regex for a glob with placeholders; a placeholder used twice must match the same."""
    parts: list[str] = []
    seen: set[str] = set()
    i = 0
    while i < len(pattern):
        m = _PLACEHOLDER.match(pattern, i)
        if m:
            name = m.group(1).lower()
            if name in seen:
                parts.append(f"(?P={name})")
            else:
                seen.add(name)
                parts.append(f"(?P<{name}>[^/]+)" if name == "split" else rf"(?P<{name}>\d+)")
            i = m.end()
            continue
        ch = pattern[i]
        if pattern.startswith("**", i):
            parts.append(".*")
            i += 2
            continue
        if ch == "*":
            parts.append("[^/]*")
        elif ch == "?":
            parts.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                parts.append(re.escape(ch))
            else:
                parts.append(pattern[i : end + 1].replace("[!", "[^"))
                i = end + 1
                continue
        else:
            parts.append(re.escape(ch))
        i += 1
    return re.compile("".join(parts) + r"\Z")
