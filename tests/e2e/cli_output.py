"""Reading what the CLI printed (imported by the e2e tests; a plain module, so no other
folder's ``conftest`` can shadow it)."""

from __future__ import annotations

import json
import subprocess
from typing import Any


def as_json(proc: subprocess.CompletedProcess[str]) -> Any:
    """Parse a command's JSON output, showing stderr if it is not JSON."""
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as exc:  # pragma: no cover - diagnostic
        raise AssertionError(f"not JSON: {proc.stdout!r}\nstderr: {proc.stderr}") from exc
