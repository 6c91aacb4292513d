"""Cache keys: code closure + parameters + input content digests + declared environment +
installed versions of the libraries the code imports."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from conveyor._internal.hashing import digest_json, digest_text

__all__ = ["CacheKey", "explain_change"]

KEY_VERSION = 2
"""2 added ``versions``; an older key explains a miss as a format change, not per package."""


@dataclass(frozen=True)
class CacheKey:
    """The parts a task's cache key is made of, and the key itself.

    ``inputs`` maps each artifact input to its content digest (a list for fan-in inputs), so
    identical bytes re-ingested under a new artifact give the same key. ``versions`` maps each
    installed distribution the code imports (and ``conveyor-ml``) to its version.
    """

    component: str
    code: Mapping[str, str]
    parameters: Mapping[str, Any]
    inputs: Mapping[str, str | list[str] | None]
    env: Mapping[str, str | None] = field(default_factory=dict)
    packages: Sequence[str] = ()
    versions: Mapping[str, str] = field(default_factory=dict)
    format: int = KEY_VERSION
    """The key layout (``v`` in the JSON form); older keys lack later parts."""

    @property
    def digest(self) -> str:
        """The cache key."""
        return digest_json(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """JSON form, stored with the execution so later runs can explain a miss."""
        return {
            "v": self.format,
            "component": self.component,
            "code": dict(sorted(self.code.items())),
            "parameters": dict(sorted(self.parameters.items())),
            "inputs": dict(sorted(self.inputs.items())),
            "env": dict(sorted(self.env.items())),
            "packages": sorted(self.packages),
            **({"versions": dict(sorted(self.versions.items()))} if self.format >= 2 else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CacheKey:
        """Read the JSON form."""
        return cls(
            component=data.get("component", ""),
            code=data.get("code", {}),
            parameters=data.get("parameters", {}),
            inputs=data.get("inputs", {}),
            env=data.get("env", {}),
            packages=tuple(data.get("packages", ())),
            versions=data.get("versions", {}),
            format=int(data.get("v", 1)),
        )

    @staticmethod
    def environment(names: Sequence[str]) -> dict[str, str | None]:
        """Digests of the declared environment variables (values are not stored in clear)."""
        return {n: (digest_text(os.environ[n]) if n in os.environ else None) for n in names}


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def explain_change(
    previous: CacheKey | None, current: CacheKey, upstream: Mapping[str, str] | None = None
) -> list[str]:
    """Human reasons why ``current`` differs from ``previous`` (empty if they are equal).

    Args:
        previous: the key of the last successful execution of the same task, if any.
        current: the key now.
        upstream: for each artifact input, the task that produces it (for readable reasons).
    """
    if previous is None:
        return ["no earlier execution of this task"]
    if previous.format != current.format:
        return [
            f"cache key format changed (v{previous.format} -> v{current.format}): "
            "Conveyor was upgraded"
        ]
    reasons: list[str] = []
    if previous.component != current.component:
        reasons.append(f"component changed: {previous.component!r} -> {current.component!r}")
    for part in sorted(set(previous.code) | set(current.code)):
        kind, _, name = part.partition(":")
        if part not in previous.code:
            reasons.append(f"code: {kind} {name} is new")
        elif part not in current.code:
            reasons.append(f"code: {kind} {name} no longer used")
        elif previous.code[part] != current.code[part]:
            reasons.append(f"code: {kind} {name} changed")
    for p in sorted(set(previous.parameters) | set(current.parameters)):
        old = previous.parameters.get(p, "<unset>")
        new = current.parameters.get(p, "<unset>")
        if old != new:
            reasons.append(f"parameter {p}: {_short(old)} -> {_short(new)}")
    for k in sorted(set(previous.inputs) | set(current.inputs)):
        if previous.inputs.get(k) != current.inputs.get(k):
            src = ""
            if upstream and upstream.get(k):
                many = "', '" in upstream[k]
                src = f" (from task{'s' if many else ''} '{upstream[k]}')"
            reasons.append(f"input {k}: content changed{src}")
    for e in sorted(set(previous.env) | set(current.env)):
        if previous.env.get(e) != current.env.get(e):
            reasons.append(f"environment variable {e} changed")
    if sorted(previous.packages) != sorted(current.packages):
        reasons.append("declared packages changed")
    for dist in sorted(set(previous.versions) | set(current.versions)):
        old = previous.versions.get(dist, "<none>")
        new = current.versions.get(dist, "<none>")
        if old != new:
            reasons.append(f"package {dist}: {old} -> {new}")
    return reasons
