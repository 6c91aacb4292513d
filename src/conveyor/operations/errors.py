"""The errors of the run actions (defined with every other in :mod:`conveyor.errors`)."""

from __future__ import annotations

from conveyor.errors import ActionConflict, ActionError

__all__ = ["ActionConflict", "ActionError"]
