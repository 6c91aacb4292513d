"""SqlMetadataStore: the MetadataStore protocol on SQLite or PostgreSQL, in plain SQL."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

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
from conveyor.metadata.sql._db import Conn
from conveyor.metadata.sql._engine import json_dumps
from conveyor.metadata.sql._records import (
    ARTIFACT_COLUMNS,
    CONTEXT_COLUMNS,
    EVENT_COLUMNS,
    EXECUTION_COLUMNS,
    chunks,
    columns,
    marks,
)
from conveyor.metadata.sql.lineage import lineage_graph
from conveyor.metadata.sql.metrics import MetricsMixin
from conveyor.metadata.sql.registry import RegistryMixin
from conveyor.metadata.sql.run_search import RunSearchMixin

__all__ = ["SqlMetadataStore"]

_CONTEXTS = f"SELECT {columns(CONTEXT_COLUMNS, 'c')} FROM contexts c"
_EXECUTIONS = f"SELECT {columns(EXECUTION_COLUMNS, 'x')} FROM executions x"
_ARTIFACTS = f"SELECT {columns(ARTIFACT_COLUMNS, 'a')} FROM artifacts a"
_EVENTS = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"
_INSERT_CONTEXT = (
    "INSERT INTO contexts (type_id, name, properties, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (type_id, name) DO NOTHING"
)


def _limit(limit: int | None, offset: int, sqlite: bool) -> tuple[str, list[int]]:
    """LIMIT/OFFSET clauses and their values (SQLite needs a LIMIT before an OFFSET)."""
    if limit is not None:
        return (" LIMIT ? OFFSET ?", [limit, offset]) if offset else (" LIMIT ?", [limit])
    if offset:
        return (" LIMIT -1 OFFSET ?" if sqlite else " OFFSET ?"), [offset]
    return "", []


class SqlMetadataStore(RunSearchMixin, RegistryMixin, MetricsMixin, SqlStoreBase):
    """A lineage store in a SQL database: SQLite (a file, or ``sqlite://`` in memory) or PostgreSQL.
    It is also a :class:`~conveyor.metadata.registry.ModelRegistry` (named models and aliases).

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
        ts = self._records.ts_value(now)
        values = (type_id, name, json_dumps(dict(properties or {})), ts, ts)
        # read-modify-write: lock the row (PostgreSQL; SQLite is serial)
        lock = self._for_update if properties else ""
        with self._write(f"put the context {type_name}:{name!r}") as conn:
            row = None
            if conn.returning:  # a new context comes back from the insert itself
                returned = conn.execute(
                    f"{_INSERT_CONTEXT} RETURNING {', '.join(CONTEXT_COLUMNS)}", values
                ).fetchall()  # drained: the statement is finished before the next one
                row = returned[0] if returned else None
            else:
                conn.execute(_INSERT_CONTEXT, values)
            if row is None:
                row = conn.execute(
                    f"{_CONTEXTS} WHERE c.type_id = ? AND c.name = ?{lock}", (type_id, name)
                ).fetchone()
            record = self._records.contexts(conn, [row])[0]
            if properties:
                merged = {**record.properties, **properties}
                if merged != record.properties:
                    self._set_context_properties(conn, record.id, merged, now)
                    record = replace(record, properties=merged, updated_at=now)
            if parent_ids:
                if record.id in parent_ids:
                    raise ValueError(f"Context {record.id} cannot be its own parent.")
                conn.executemany(
                    "INSERT INTO parent_contexts (context_id, parent_id) VALUES (?, ?) "
                    "ON CONFLICT DO NOTHING",
                    [(record.id, p) for p in parent_ids],
                )
        return record

    def update_context(self, context_id: int, properties: Mapping[str, Any]) -> ContextRecord:
        """Merge ``properties`` into a context (top-level keys replace)."""
        with self._write(f"update the context {context_id!r}") as conn:
            return self._merge_into_context(conn, context_id, properties)

    def get_context(self, context_id: int) -> ContextRecord:
        """A context by id; :class:`NotFoundError` if absent."""
        with self._read(f"read the context {context_id!r}") as conn:
            row = conn.execute(f"{_CONTEXTS} WHERE c.id = ?", (context_id,)).fetchone()
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
                f"{_CONTEXTS} WHERE c.type_id = ? AND c.name = ?", (type_id, name)
            ).fetchone()
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
            query, params = f"{_CONTEXTS} WHERE c.type_id = ?", [type_id]
            if parent_id is not None:
                query = (
                    f"{_CONTEXTS} JOIN parent_contexts p ON p.context_id = c.id "
                    "WHERE c.type_id = ? AND p.parent_id = ?"
                )
                params.append(parent_id)
            page, values = _limit(limit, offset, self._sqlite)
            rows = conn.execute(f"{query} ORDER BY c.id DESC{page}", [*params, *values]).fetchall()
            return self._records.contexts(conn, rows)

    def get_parent_contexts(self, context_id: int) -> list[ContextRecord]:
        """The parents of a context, in id order."""
        return self._linked_contexts(
            "parent_contexts",
            "parent_id",
            "context_id",
            context_id,
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
        conn: Conn,
        execution_id: int,
        values: dict[str, Any],
        properties: Mapping[str, Any] | None,
    ) -> None:
        """``values`` maps columns to values; ``updated_at`` is an aware datetime."""
        values["updated_at"] = self._records.ts_value(values["updated_at"])
        if properties:
            row = conn.execute(
                f"SELECT properties FROM executions WHERE id = ?{self._for_update}",
                (execution_id,),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"No execution with id {execution_id!r} in the metadata store.")
            current = self._records.properties(row[0])
            values["properties"] = json_dumps({**current, **properties})
        assignments = ", ".join(f"{column} = ?" for column in values)
        result = conn.execute(
            f"UPDATE executions SET {assignments} WHERE id = ?", [*values.values(), execution_id]
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
        with self._read(f"read the execution {execution_id!r}") as conn:
            row = conn.execute(f"{_EXECUTIONS} WHERE x.id = ?", (execution_id,)).fetchone()
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
        query, where, params = _EXECUTIONS, [], list[Any]()
        if context_id is not None:
            query += " JOIN associations s ON s.execution_id = x.id"
            where.append("s.context_id = ?")
            params.append(context_id)
        if name is not None:
            where.append("x.name = ?")
            params.append(name)
        if states is not None:
            wanted = [ExecutionState(s).value for s in states]
            if not wanted:
                return []
            where.append(f"x.state IN ({marks(len(wanted))})")
            params += wanted
        if cache_key is not None:
            where.append("x.cache_key = ?")
            params.append(cache_key)
        if where:
            query += f" WHERE {' AND '.join(where)}"
        page, values = _limit(limit, 0, self._sqlite)
        with self._read("list executions") as conn:
            rows = conn.execute(f"{query} ORDER BY x.id DESC{page}", [*params, *values]).fetchall()
            return self._records.executions(conn, rows)

    def get_execution_contexts(self, execution_id: int) -> list[ContextRecord]:
        """The contexts an execution is associated with, in id order."""
        return self._linked_contexts(
            "associations",
            "context_id",
            "execution_id",
            execution_id,
            f"read the contexts of execution {execution_id!r}",
        )

    def _linked_contexts(
        self, table: str, link: str, key: str, value: int, action: str
    ) -> list[ContextRecord]:
        """Contexts whose id is ``table.link`` in the rows where ``table.key = value``."""
        query = f"{_CONTEXTS} JOIN {table} k ON k.{link} = c.id WHERE k.{key} = ? ORDER BY c.id"
        with self._read(action) as conn:
            return self._records.contexts(conn, conn.execute(query, (value,)).fetchall())

    def find_cached_execution(self, cache_key: str) -> ExecutionRecord | None:
        """The newest COMPLETE execution recorded with ``cache_key``, or None."""
        query = f"{_EXECUTIONS} WHERE x.cache_key = ? AND x.state = ? ORDER BY x.id DESC LIMIT 1"
        with self._read("look up the cache") as conn:
            row = conn.execute(query, (cache_key, ExecutionState.COMPLETE.value)).fetchone()
            return None if row is None else self._records.executions(conn, [row])[0]

    # --- artifacts and events ---------------------------------------------------------------
    def get_artifact(self, artifact_id: int) -> ArtifactRecord:
        """An artifact by id; :class:`NotFoundError` if absent."""
        with self._read(f"read the artifact {artifact_id!r}") as conn:
            row = conn.execute(f"{_ARTIFACTS} WHERE a.id = ?", (artifact_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"No artifact with id {artifact_id!r} in the metadata store.")
            return self._records.artifacts(conn, [row])[0]

    def get_artifacts(self, artifact_ids: Iterable[int]) -> list[ArtifactRecord]:
        """Artifacts by id, in one query, ordered by id (missing ids are left out)."""
        ids = sorted(set(artifact_ids))
        rows: list[Any] = []
        with self._read("read artifacts") as conn:
            for part in chunks(ids):
                query = f"{_ARTIFACTS} WHERE a.id IN ({marks(len(part))}) ORDER BY a.id"
                rows += conn.execute(query, part).fetchall()
            return self._records.artifacts(conn, rows)

    def list_artifacts(
        self,
        *,
        context_id: int | None = None,
        type_name: str | None = None,
        limit: int | None = None,
    ) -> list[ArtifactRecord]:
        """Artifacts matching the filters, newest first."""
        query, where, params = _ARTIFACTS, [], []
        if context_id is not None:
            query += " JOIN attributions t ON t.artifact_id = a.id"
            where.append("t.context_id = ?")
            params.append(context_id)
        page, values = _limit(limit, 0, self._sqlite)
        with self._read("list artifacts") as conn:
            if type_name is not None:
                type_id = self._records.find_type(conn, "artifact", type_name)
                if type_id is None:
                    return []
                where.append("a.type_id = ?")
                params.append(type_id)
            if where:
                query += f" WHERE {' AND '.join(where)}"
            rows = conn.execute(f"{query} ORDER BY a.id DESC{page}", [*params, *values]).fetchall()
            return self._records.artifacts(conn, rows)

    def set_artifact_state(self, artifact_ids: Iterable[int], state: ArtifactState) -> None:
        """Change the state of artifacts; :class:`NotFoundError` (no change) if one is absent."""
        ids = sorted(set(artifact_ids))
        values = [ArtifactState(state).value, self._records.ts_value(utc_now())]
        with self._write(f"set artifacts to {state.value}") as conn:
            changed = 0
            found: set[int] = set()
            for part in chunks(ids):
                result = conn.execute(
                    "UPDATE artifacts SET state = ?, updated_at = ? "
                    f"WHERE id IN ({marks(len(part))})",
                    [*values, *part],
                )
                changed += result.rowcount
            if changed != len(ids):
                for part in chunks(ids):
                    query = f"SELECT id FROM artifacts WHERE id IN ({marks(len(part))})"
                    found.update(i for (i,) in conn.execute(query, part).fetchall())
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
        conditions: list[str] = []
        params: list[int] = []
        for column, ids in (("execution_id", execution_ids), ("artifact_id", artifact_ids)):
            if ids is not None:
                wanted = sorted(set(ids))
                conditions.append(f"{column} IN ({marks(len(wanted))})" if wanted else "1 = 0")
                params += wanted
        if not conditions:
            return []
        query = f"{_EVENTS} WHERE {' OR '.join(conditions)} ORDER BY id"
        with self._read("read events") as conn:
            return self._records.events(conn.execute(query, params).fetchall())

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
