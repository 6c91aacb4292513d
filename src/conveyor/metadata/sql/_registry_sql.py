"""SQL text and argument checks of the store's model registry (see ``registry.py``)."""

from __future__ import annotations

import os

from conveyor.metadata.registry import check_registry_name as check_name

__all__ = [
    "AT",
    "BLESSINGS",
    "BLESSING_INPUT",
    "BLESSING_TYPE",
    "HISTORY",
    "MODELS",
    "MODEL_TYPE",
    "VERSIONS",
    "check_name",
    "default_actor",
]

MODEL_TYPE = "conveyor.Model"
BLESSING_TYPE = "conveyor.ModelBlessing"
BLESSING_INPUT = "model"
"""The evaluator's input key of the model it judges (its baseline does not count)."""

MODELS = (
    "SELECT m.id, m.name, m.description, m.tags, m.created_at, m.updated_at "
    "FROM registered_models m"
)
_VERSION_COLUMNS = (
    "v.id, m.name, v.version, v.artifact_id, a.uri, v.description, v.tags, v.created_at"
)
VERSIONS = (
    f"SELECT {_VERSION_COLUMNS} FROM model_versions v "
    "JOIN registered_models m ON m.id = v.model_id JOIN artifacts a ON a.id = v.artifact_id"
)
HISTORY = (
    "SELECT m.name, h.alias, h.from_version, h.to_version, h.changed_at, h.actor, h.reason, "
    "h.forced FROM model_alias_history h JOIN registered_models m ON m.id = h.model_id"
)
AT = (
    f"SELECT {_VERSION_COLUMNS}, h.to_version FROM model_alias_history h "
    "JOIN registered_models m ON m.id = h.model_id "
    "LEFT JOIN model_versions v ON v.model_id = h.model_id AND v.version = h.to_version "
    "LEFT JOIN artifacts a ON a.id = v.artifact_id "
    "WHERE m.name = ? AND h.alias = ? AND h.changed_at <= ? "
    "ORDER BY h.changed_at DESC, h.id DESC LIMIT 1"
)
BLESSINGS = (
    "SELECT b.properties, t.name, m.fingerprint FROM events ei "
    "JOIN events eo ON eo.execution_id = ei.execution_id AND eo.type = 'OUTPUT' "
    "JOIN artifacts b ON b.id = eo.artifact_id JOIN types t ON t.id = b.type_id "
    "JOIN artifacts m ON m.id = ei.artifact_id "
    "WHERE ei.artifact_id = ? AND ei.type = 'INPUT' AND ei.path = ? AND b.state = 'LIVE'"
)


def default_actor() -> str:
    """Who is acting: ``user@host pid N``."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name in a container
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{os.uname().nodename} pid {os.getpid()}"
