"""SqlMetadataStore: the MetadataStore protocol on SQLite or PostgreSQL with SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import sqlalchemy as sa

from conveyor.errors import NotFoundError
from conveyor.metadata.entities import (
    ArtifactRecord,
    ArtifactState,
    ContextRecord,
    EventRecord,
    ExecutionRecord,
    ExecutionState,
    LineageGraph,
    NewArtifact,
)
from conveyor.metadata.sql._base import SqlStoreBase, utc_now
from conveyor.metadata.sql._records import (
    ARTIFACT_COLUMNS,
    CONTEXT_COLUMNS,
    EVENT_COLUMNS,
    EXECUTION_COLUMNS,
    Records,
    chunks,
)
from conveyor.metadata.sql.lineage import lineage_graph
from conveyor.metadata.sql.metrics import MetricsMixin
from conveyor.metadata.sql.models import (
    artifacts,
    associations,
    attributions,
    contexts,
    events,
    executions,
    parent_contexts,
)

__all__ = ["SqlMetadataStore"]


class SqlMetadataStore(MetricsMixin, SqlStoreBase):
    """A lineage store in a SQL database: SQLite (a file, or ``sqlite://`` in memory) or PostgreSQL.

    Every write method is one transaction. On SQLite, writers take the write lock up front
    (``BEGIN IMMEDIATE``) and wait up to 30 s for it, so many processes can record into one
    file. The schema is created or upgraded on first connect. After ``os.fork()`` a child gets
    fresh connections on first use (an in-memory database is copied into the child instead).

    Args:
        uri: ``sqlite://``, ``sqlite:///relative.db``, ``sqlite:////abs.db`` or
            ``postgresql://user@host:port/db[?schema=NAME]``.

    Raises:
        ConfigError: the URI is not supported.
        MissingExtraError: PostgreSQL without psycopg installed.
        StoreError: the database cannot be reached or migrated.

    Example:
        >>> store = SqlMetadataStore("sqlite://")
        >>> run = store.put_context("conveyor.PipelineRun", "run-1")
        >>> eid, [model] = store.record_execution(
        ...     "Trainer", "train", ExecutionState.COMPLETE, contexts=[run.id],
        ...     outputs=[NewArtifact(key="model", type_name="Model", uri="/m")])
        >>> store.lineage(model.id).executions[0].name
        'train'
    """

    # --- contexts ---------------------------------------------------------------------------
    def put_context(
        self,
        type_name: str,
        name: str,
        properties: Mapping[str, Any] | None = None,
        parents: Sequence[int] = (),
    ) -> ContextRecord:
        """Get or create the context ``(type_name, name)``; merge ``properties`` into it."""
        type_id = self._type_id("context", type_name)
        parent_ids = list(dict.fromkeys(parents))
        now = utc_now()
        insert = self._upsert(contexts).on_conflict_do_nothing(index_elements=["type_id", "name"])
        with self._write(f"put the context {type_name}:{name!r}") as conn:
            values = {"type_id": type_id, "name": name, "updated_at": now, "created_at": now}
            conn.execute(insert, {**values, "properties": dict(properties or {})})
            query = sa.select(*CONTEXT_COLUMNS).where(
                contexts.c.type_id == type_id, contexts.c.name == name
            )
            if properties:  # read-modify-write: lock the row (PostgreSQL; SQLite is serial)
                query = query.with_for_update()
            row = conn.execute(query).one()
            record = self._records.contexts(conn, [row])[0]
            if properties:
                merged = {**record.properties, **properties}
                if merged != record.properties:
                    self._set_context_properties(conn, record.id, merged, now)
                    record = replace(record, properties=merged, updated_at=now)
            if parent_ids:
                if record.id in parent_ids:
                    raise ValueError(f"Context {record.id} cannot be its own parent.")
                link = self._upsert(parent_contexts).on_conflict_do_nothing()
                conn.execute(link, [{"context_id": record.id, "parent_id": p} for p in parent_ids])
        return record

    def update_context(self, context_id: int, properties: Mapping[str, Any]) -> ContextRecord:
        """Merge ``properties`` into a context (top-level keys replace)."""
        with self._write(f"update the context {context_id!r}") as conn:
            return self._merge_into_context(conn, context_id, properties)

    def get_context(self, context_id: int) -> ContextRecord:
        """A context by id; :class:`NotFoundError` if absent."""
        with self._read(f"read the context {context_id!r}") as conn:
            row = conn.execute(
                sa.select(*CONTEXT_COLUMNS).where(contexts.c.id == context_id)
            ).first()
            if row is None:
                raise NotFoundError(f"No context with id {context_id!r} in the metadata store.")
            return self._records.contexts(conn, [row])[0]

    def find_context(self, type_name: str, name: str) -> ContextRecord | None:
        """A context by type and name, or None."""
        with self._read(f"find the context {type_name}:{name!r}") as conn:
            type_id = self._records.find_type(conn, "context", type_name)
            if type_id is None:
                return None
            row = conn.execute(
                sa.select(*CONTEXT_COLUMNS).where(
                    contexts.c.type_id == type_id, contexts.c.name == name
                )
            ).first()
            return None if row is None else self._records.contexts(conn, [row])[0]

    def list_contexts(
        self,
        type_name: str,
        *,
        limit: int | None = None,
        offset: int = 0,
        parent_id: int | None = None,
    ) -> list[ContextRecord]:
        """Contexts of a type, newest first (optionally only the children of ``parent_id``)."""
        with self._read(f"list {type_name} contexts") as conn:
            type_id = self._records.find_type(conn, "context", type_name)
            if type_id is None:
                return []
            query = sa.select(*CONTEXT_COLUMNS).where(contexts.c.type_id == type_id)
            if parent_id is not None:
                query = query.join(
                    parent_contexts, parent_contexts.c.context_id == contexts.c.id
                ).where(parent_contexts.c.parent_id == parent_id)
            query = query.order_by(contexts.c.id.desc()).limit(limit).offset(offset or None)
            return self._records.contexts(conn, conn.execute(query).all())

    def get_parent_contexts(self, context_id: int) -> list[ContextRecord]:
        """The parents of a context, in id order."""
        return self._linked_contexts(
            parent_contexts.c.parent_id,
            parent_contexts.c.context_id == context_id,
            f"read the parents of context {context_id!r}",
        )

    # --- executions -------------------------------------------------------------------------
    def start_execution(
        self,
        type_name: str,
        name: str,
        *,
        contexts: Sequence[int] = (),
        inputs: Sequence[tuple[str, int]] = (),
        properties: Mapping[str, Any] | None = None,
        state: ExecutionState = ExecutionState.RUNNING,
        cache_key: str | None = None,
    ) -> int:
        """Record an execution with its INPUT events ``(key, artifact_id)``; return its id."""
        type_id = self._type_id("execution", type_name)
        with self._write(f"start the execution {name!r}") as conn:
            execution_id, _ = self._writes.record(
                conn,
                type_id=type_id,
                name=name,
                state=state,
                cache_key=cache_key,
                properties=properties,
                contexts=contexts,
                inputs=inputs,
                outputs=(),
                type_ids=(),
                reused=(),
                now=utc_now(),
            )
        return execution_id

    def finish_execution(
        self,
        execution_id: int,
        state: ExecutionState,
        *,
        outputs: Sequence[NewArtifact] = (),
        reused_outputs: Sequence[tuple[str, int]] = (),
        properties: Mapping[str, Any] | None = None,
        cache_key: str | None = None,
    ) -> list[ArtifactRecord]:
        """Close an execution in one transaction (see :meth:`MetadataStore.finish_execution`)."""
        type_ids = [self._type_id("artifact", out.type_name) for out in outputs]
        now = utc_now()
        with self._write(f"finish the execution {execution_id!r}") as conn:
            values: dict[str, Any] = {"state": ExecutionState(state).value, "updated_at": now}
            if cache_key is not None:
                values["cache_key"] = cache_key
            self._update_execution(conn, execution_id, values, properties)
            return self._writes.add_outputs(
                conn,
                execution_id,
                outputs=outputs,
                type_ids=type_ids,
                reused=reused_outputs,
                now=now,
            )

    def record_execution(
        self,
        type_name: str,
        name: str,
        state: ExecutionState,
        *,
        contexts: Sequence[int] = (),
        inputs: Sequence[tuple[str, int]] = (),
        outputs: Sequence[NewArtifact] = (),
        reused_outputs: Sequence[tuple[str, int]] = (),
        properties: Mapping[str, Any] | None = None,
        cache_key: str | None = None,
    ) -> tuple[int, list[ArtifactRecord]]:
        """``start_execution`` and ``finish_execution`` in one transaction."""
        type_id = self._type_id("execution", type_name)
        type_ids = [self._type_id("artifact", out.type_name) for out in outputs]
        with self._write(f"record the execution {name!r}") as conn:
            return self._writes.record(
                conn,
                type_id=type_id,
                name=name,
                state=state,
                cache_key=cache_key,
                properties=properties,
                contexts=contexts,
                inputs=inputs,
                outputs=outputs,
                type_ids=type_ids,
                reused=reused_outputs,
                now=utc_now(),
            )

    def _update_execution(
        self,
        conn: sa.Connection,
        execution_id: int,
        values: dict[str, Any],
        properties: Mapping[str, Any] | None,
    ) -> None:
        if properties:
            current = conn.execute(
                sa.select(executions.c.properties)
                .where(executions.c.id == execution_id)
                .with_for_update()
            ).scalar()
            if current is None:
                raise NotFoundError(f"No execution with id {execution_id!r} in the metadata store.")
            values["properties"] = {**current, **properties}
        result = conn.execute(
            sa.update(executions).where(executions.c.id == execution_id).values(values)
        )
        if result.rowcount == 0:
            raise NotFoundError(f"No execution with id {execution_id!r} in the metadata store.")

    def update_execution(
        self,
        execution_id: int,
        *,
        state: ExecutionState | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        """Change an execution's state and/or merge properties."""
        values: dict[str, Any] = {"updated_at": utc_now()}
        if state is not None:
            values["state"] = ExecutionState(state).value
        with self._write(f"update the execution {execution_id!r}") as conn:
            self._update_execution(conn, execution_id, values, properties)

    def get_execution(self, execution_id: int) -> ExecutionRecord:
        """An execution by id; :class:`NotFoundError` if absent."""
        query = sa.select(*EXECUTION_COLUMNS).where(executions.c.id == execution_id)
        with self._read(f"read the execution {execution_id!r}") as conn:
            row = conn.execute(query).first()
            if row is None:
                raise NotFoundError(f"No execution with id {execution_id!r} in the metadata store.")
            return self._records.executions(conn, [row])[0]

    def list_executions(
        self,
        *,
        context_id: int | None = None,
        name: str | None = None,
        states: Iterable[ExecutionState] | None = None,
        cache_key: str | None = None,
        limit: int | None = None,
    ) -> list[ExecutionRecord]:
        """Executions matching every given filter, newest first."""
        query = sa.select(*EXECUTION_COLUMNS)
        if context_id is not None:
            query = query.join(associations, associations.c.execution_id == executions.c.id).where(
                associations.c.context_id == context_id
            )
        if name is not None:
            query = query.where(executions.c.name == name)
        if states is not None:
            query = query.where(executions.c.state.in_([ExecutionState(s).value for s in states]))
        if cache_key is not None:
            query = query.where(executions.c.cache_key == cache_key)
        query = query.order_by(executions.c.id.desc()).limit(limit)
        with self._read("list executions") as conn:
            return self._records.executions(conn, conn.execute(query).all())

    def get_execution_contexts(self, execution_id: int) -> list[ContextRecord]:
        """The contexts an execution is associated with, in id order."""
        return self._linked_contexts(
            associations.c.context_id,
            associations.c.execution_id == execution_id,
            f"read the contexts of execution {execution_id!r}",
        )

    def _linked_contexts(
        self, link: sa.Column[Any], where: sa.ColumnElement[bool], action: str
    ) -> list[ContextRecord]:
        """Contexts reached through a link table's column ``link``, in id order."""
        query = (
            sa.select(*CONTEXT_COLUMNS)
            .join(link.table, link == contexts.c.id)
            .where(where)
            .order_by(contexts.c.id)
        )
        with self._read(action) as conn:
            return self._records.contexts(conn, conn.execute(query).all())

    def find_cached_execution(self, cache_key: str) -> ExecutionRecord | None:
        """The newest COMPLETE execution recorded with ``cache_key``, or None."""
        query = (
            sa.select(*EXECUTION_COLUMNS)
            .where(
                executions.c.cache_key == cache_key,
                executions.c.state == ExecutionState.COMPLETE.value,
            )
            .order_by(executions.c.id.desc())
            .limit(1)
        )
        with self._read("look up the cache") as conn:
            row = conn.execute(query).first()
            return None if row is None else self._records.executions(conn, [row])[0]

    # --- artifacts and events ---------------------------------------------------------------
    def get_artifact(self, artifact_id: int) -> ArtifactRecord:
        """An artifact by id; :class:`NotFoundError` if absent."""
        query = sa.select(*ARTIFACT_COLUMNS).where(artifacts.c.id == artifact_id)
        with self._read(f"read the artifact {artifact_id!r}") as conn:
            row = conn.execute(query).first()
            if row is None:
                raise NotFoundError(f"No artifact with id {artifact_id!r} in the metadata store.")
            return self._records.artifacts(conn, [row])[0]

    def get_artifacts(self, artifact_ids: Iterable[int]) -> list[ArtifactRecord]:
        """Artifacts by id, in one query, ordered by id (missing ids are left out)."""
        ids = sorted(set(artifact_ids))
        rows: list[Any] = []
        with self._read("read artifacts") as conn:
            for part in chunks(ids):
                query = sa.select(*ARTIFACT_COLUMNS).where(artifacts.c.id.in_(part))
                rows += conn.execute(query.order_by(artifacts.c.id)).all()
            return self._records.artifacts(conn, rows)

    def list_artifacts(
        self,
        *,
        context_id: int | None = None,
        type_name: str | None = None,
        limit: int | None = None,
    ) -> list[ArtifactRecord]:
        """Artifacts matching the filters, newest first."""
        query = sa.select(*ARTIFACT_COLUMNS)
        if context_id is not None:
            query = query.join(attributions, attributions.c.artifact_id == artifacts.c.id).where(
                attributions.c.context_id == context_id
            )
        query = query.order_by(artifacts.c.id.desc()).limit(limit)
        with self._read("list artifacts") as conn:
            if type_name is not None:
                type_id = self._records.find_type(conn, "artifact", type_name)
                if type_id is None:
                    return []
                query = query.where(artifacts.c.type_id == type_id)
            return self._records.artifacts(conn, conn.execute(query).all())

    def set_artifact_state(self, artifact_ids: Iterable[int], state: ArtifactState) -> None:
        """Change the state of artifacts; :class:`NotFoundError` (no change) if one is absent."""
        ids = sorted(set(artifact_ids))
        values = {"state": ArtifactState(state).value, "updated_at": utc_now()}
        with self._write(f"set artifacts to {state.value}") as conn:
            changed = 0
            for part in chunks(ids):
                result = conn.execute(
                    sa.update(artifacts).where(artifacts.c.id.in_(part)).values(values)
                )
                changed += result.rowcount
            if changed != len(ids):
                found = set(
                    conn.execute(sa.select(artifacts.c.id).where(artifacts.c.id.in_(ids))).scalars()
                )
                missing = [i for i in ids if i not in found]
                raise NotFoundError(
                    f"No artifact with id {missing[0]!r} in the metadata store "
                    f"(missing: {missing!r}); no state was changed."
                )

    def get_events(
        self,
        *,
        execution_ids: Iterable[int] | None = None,
        artifact_ids: Iterable[int] | None = None,
    ) -> list[EventRecord]:
        """Events touching any of the given executions or artifacts, in one query."""
        conditions: list[sa.ColumnElement[bool]] = []
        if execution_ids is not None:
            conditions.append(events.c.execution_id.in_(sorted(set(execution_ids))))
        if artifact_ids is not None:
            conditions.append(events.c.artifact_id.in_(sorted(set(artifact_ids))))
        if not conditions:
            return []
        query = sa.select(*EVENT_COLUMNS).where(sa.or_(*conditions)).order_by(events.c.id)
        with self._read("read events") as conn:
            return Records.events(conn.execute(query).all())

    # --- lineage ----------------------------------------------------------------------------
    def lineage(
        self,
        artifact_id: int,
        direction: Literal["upstream", "downstream"] = "upstream",
        *,
        max_depth: int | None = None,
    ) -> LineageGraph:
        """The artifacts and executions upstream (or downstream) of an artifact.

        One recursive query plus two fetches, whatever the depth. ``max_depth`` counts
        executions along a path; 0 returns the artifact alone.
        """
        if direction not in ("upstream", "downstream"):
            raise ValueError(f"direction must be 'upstream' or 'downstream', got {direction!r}.")
        if max_depth is not None and max_depth < 0:
            raise ValueError(f"max_depth must be None or >= 0, got {max_depth!r}.")
        with self._read(f"read the {direction} lineage of artifact {artifact_id!r}") as conn:
            return lineage_graph(conn, self._records, artifact_id, direction, max_depth)
