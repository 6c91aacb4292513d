"""The rows one execution writes: the execution, its new artifacts, events and context links."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from conveyor.metadata.entities import (
    ArtifactRecord,
    ArtifactState,
    EventType,
    ExecutionState,
    NewArtifact,
)
from conveyor.metadata.sql.models import artifacts, associations, events, executions

__all__ = ["insert_artifacts", "insert_edges", "insert_execution"]

_INPUT = EventType.INPUT.value
_OUTPUT = EventType.OUTPUT.value
# Statements built once: SQLAlchemy then finds their compiled form in its cache at once.
_INSERT_EXECUTION = executions.insert()
_INSERT_ARTIFACT = artifacts.insert()
_INSERT_ARTIFACTS = artifacts.insert().returning(artifacts.c.id, sort_by_parameter_order=True)
_INSERT_EVENTS = events.insert()
_INSERT_ASSOCIATIONS = associations.insert()


def insert_execution(
    conn: sa.Connection,
    type_id: int,
    name: str,
    state: ExecutionState,
    cache_key: str | None,
    properties: Mapping[str, Any] | None,
    now: datetime,
) -> int:
    """Insert one execution row; return its id."""
    values = {
        "type_id": type_id,
        "name": name,
        "state": ExecutionState(state).value,
        "cache_key": cache_key,
        "properties": dict(properties or {}),
        "created_at": now,
        "updated_at": now,
    }
    result = conn.execute(_INSERT_EXECUTION, values)
    return result.inserted_primary_key[0]  # type: ignore[index,no-any-return]


def insert_artifacts(
    conn: sa.Connection,
    outputs: Sequence[NewArtifact],
    type_ids: Sequence[int],
    now: datetime,
) -> list[ArtifactRecord]:
    """Insert new artifacts in one statement; return their records in the order given."""
    if not outputs:
        return []
    rows = [
        {
            "type_id": type_id,
            "uri": out.uri,
            "name": out.name,
            "state": ArtifactState(out.state).value,
            "fingerprint": out.fingerprint,
            "size_bytes": out.size_bytes,
            "properties": dict(out.properties),
            "created_at": now,
            "updated_at": now,
        }
        for out, type_id in zip(outputs, type_ids, strict=True)
    ]
    if len(rows) == 1:
        ids = [conn.execute(_INSERT_ARTIFACT, rows[0]).inserted_primary_key[0]]  # type: ignore[index]
    else:
        ids = list(conn.execute(_INSERT_ARTIFACTS, rows).scalars())
    return [
        ArtifactRecord(
            id=artifact_id,
            type_name=out.type_name,
            uri=out.uri,
            name=out.name,
            state=ArtifactState(out.state),
            fingerprint=out.fingerprint,
            size_bytes=out.size_bytes,
            properties=row["properties"],
            created_at=now,
            updated_at=now,
        )
        for artifact_id, out, row in zip(ids, outputs, rows, strict=True)
    ]


def insert_edges(
    conn: sa.Connection,
    attribute: sa.Insert,
    execution_id: int,
    now: datetime,
    *,
    associate: Sequence[int] = (),
    attribute_to: Sequence[int] = (),
    inputs: Sequence[tuple[str, int]] = (),
    produced: Sequence[tuple[str, int]] = (),
) -> None:
    """Insert an execution's events and context links, one statement per table.

    Args:
        conn: in a write transaction.
        attribute: the dialect's ``INSERT INTO attributions ... ON CONFLICT DO NOTHING``.
        execution_id: the execution.
        now: the timestamp of the events.
        associate: contexts to associate the execution with (not yet associated).
        attribute_to: contexts to attribute the ``produced`` artifacts to.
        inputs: ``(key, artifact_id)`` INPUT events.
        produced: ``(key, artifact_id)`` OUTPUT events.
    """
    rows = [
        {
            "artifact_id": artifact_id,
            "execution_id": execution_id,
            "type": _INPUT,
            "path": key,
            "created_at": now,
        }
        for key, artifact_id in inputs
    ]
    rows += [
        {
            "artifact_id": artifact_id,
            "execution_id": execution_id,
            "type": _OUTPUT,
            "path": key,
            "created_at": now,
        }
        for key, artifact_id in produced
    ]
    if rows:
        conn.execute(_INSERT_EVENTS, rows)
    if associate:
        conn.execute(
            _INSERT_ASSOCIATIONS,
            [{"execution_id": execution_id, "context_id": c} for c in associate],
        )
    if attribute_to and produced:
        pairs = dict.fromkeys((a, c) for _, a in produced for c in attribute_to)
        conn.execute(attribute, [{"artifact_id": a, "context_id": c} for a, c in pairs])
