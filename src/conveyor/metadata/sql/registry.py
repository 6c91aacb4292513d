"""The model registry of the SQL store: models, versions, aliases and their history, in plain
SQL (see :class:`conveyor.metadata.registry.ModelRegistry`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from conveyor.errors import AlreadyExistsError, NotFoundError, UnblessedModelError
from conveyor.metadata.registry import (
    AliasChange,
    ModelRef,
    ModelVersion,
    RegisteredModel,
    parse_model_ref,
)
from conveyor.metadata.sql._base import SqlStoreBase, utc_now
from conveyor.metadata.sql._db import Conn
from conveyor.metadata.sql._engine import json_dumps
from conveyor.metadata.sql._records import marks
from conveyor.metadata.sql._registry_sql import (
    AT,
    BLESSING_INPUT,
    BLESSING_TYPE,
    BLESSINGS,
    HISTORY,
    MODEL_TYPE,
    MODELS,
    VERSIONS,
    check_name,
    default_actor,
)

__all__ = ["RegistryMixin"]


class RegistryMixin(SqlStoreBase):
    """The :class:`~conveyor.metadata.registry.ModelRegistry` methods of the SQL store."""

    # --- rows to records --------------------------------------------------------------------
    def _model_records(self, conn: Conn, rows: Sequence[Any]) -> list[RegisteredModel]:
        if not rows:
            return []
        ids = [r[0] for r in rows]
        latest: dict[int, int] = dict(
            conn.execute(
                "SELECT model_id, MAX(version) FROM model_versions "
                f"WHERE model_id IN ({marks(len(ids))}) GROUP BY model_id",
                ids,
            ).fetchall()
        )
        aliases: dict[int, dict[str, int]] = {}
        for model_id, alias, version in conn.execute(
            "SELECT al.model_id, al.alias, v.version FROM model_aliases al "
            "JOIN model_versions v ON v.id = al.version_id "
            f"WHERE al.model_id IN ({marks(len(ids))}) ORDER BY al.alias",
            ids,
        ).fetchall():
            aliases.setdefault(model_id, {})[alias] = version
        ts, props = self._records.ts, self._records.properties
        return [
            RegisteredModel(
                id=r[0],
                name=r[1],
                description=r[2],
                tags=props(r[3]),
                created_at=ts(r[4]),
                updated_at=ts(r[5]),
                latest_version=latest.get(r[0]),
                aliases=aliases.get(r[0], {}),
            )
            for r in rows
        ]

    def _version_records(
        self, conn: Conn, rows: Sequence[Any], *, with_aliases: bool = True
    ) -> list[ModelVersion]:
        aliases: dict[int, list[str]] = {}
        if rows and with_aliases:
            ids = [r[0] for r in rows]
            query = (
                "SELECT version_id, alias FROM model_aliases "
                f"WHERE version_id IN ({marks(len(ids))}) ORDER BY alias"
            )
            for version_id, alias in conn.execute(query, ids).fetchall():
                aliases.setdefault(version_id, []).append(alias)
        ts, props = self._records.ts, self._records.properties
        return [
            ModelVersion(
                id=r[0],
                model_name=r[1],
                version=r[2],
                artifact_id=r[3],
                uri=r[4],
                description=r[5],
                tags=props(r[6]),
                created_at=ts(r[7]),
                aliases=tuple(aliases.get(r[0], ())),
            )
            for r in rows
        ]

    def _change(self, row: Any) -> AliasChange:
        return AliasChange(
            model_name=row[0],
            alias=row[1],
            from_version=row[2],
            to_version=row[3],
            changed_at=self._records.ts(row[4]),
            actor=row[5],
            reason=row[6],
            forced=bool(row[7]),
        )

    def _model_id(self, conn: Conn, name: str, *, lock: bool = False) -> int:
        """The id of model ``name`` (row-locked on PostgreSQL with ``lock``: alias moves and
        new versions of one model then run one after the other)."""
        query = f"SELECT id FROM registered_models WHERE name = ?{self._for_update if lock else ''}"
        row = conn.execute(query, (name,)).fetchone()
        if row is None:
            known = [n for (n,) in conn.execute("SELECT name FROM registered_models ORDER BY name")]
            raise NotFoundError(
                f"No registered model {name!r} in the metadata store {self._where} (models: "
                f"{known or 'none'}). Register it with store.register_model({name!r}) and add a "
                "version with store.create_model_version(name, model_artifact_id)."
            )
        return int(row[0])

    def _version_row(self, conn: Conn, model_id: int, name: str, version: int) -> Any:
        row = conn.execute(
            f"{VERSIONS} WHERE v.model_id = ? AND v.version = ?", (model_id, version)
        ).fetchone()
        if row is None:
            versions = [
                v
                for (v,) in conn.execute(
                    "SELECT version FROM model_versions WHERE model_id = ? ORDER BY version",
                    (model_id,),
                ).fetchall()
            ]
            raise NotFoundError(
                f"Model {name!r} has no version {version!r} (versions: {versions or 'none'}); "
                "`conveyor models versions` lists them."
            )
        return row

    # --- models -----------------------------------------------------------------------------
    def register_model(
        self,
        name: str,
        *,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
        exist_ok: bool = False,
    ) -> RegisteredModel:
        """Create the model ``name`` (see :meth:`ModelRegistry.register_model`)."""
        check_name("model", name)
        ts = self._records.ts_value(utc_now())
        with self._write(f"register the model {name!r}") as conn:
            cursor = conn.execute(
                "INSERT INTO registered_models (name, description, tags, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (name, description, json_dumps(dict(tags or {})), ts, ts),
            )
            if cursor.rowcount == 0 and not exist_ok:
                raise AlreadyExistsError(
                    f"A model named {name!r} is already registered; add a version to it "
                    "instead, or pass exist_ok=True."
                )
            rows = conn.execute(f"{MODELS} WHERE m.name = ?", (name,)).fetchall()
            return self._model_records(conn, rows)[0]

    def get_model(self, name: str) -> RegisteredModel:
        """A model by name; :class:`NotFoundError` if absent."""
        with self._read(f"read the model {name!r}") as conn:
            model_id = self._model_id(conn, name)
            rows = conn.execute(f"{MODELS} WHERE m.id = ?", (model_id,)).fetchall()
            return self._model_records(conn, rows)[0]

    def list_models(self) -> list[RegisteredModel]:
        """Every registered model, by name."""
        with self._read("list registered models") as conn:
            return self._model_records(conn, conn.execute(f"{MODELS} ORDER BY m.name").fetchall())

    def update_model(
        self,
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> RegisteredModel:
        """Replace the description and/or merge tags (top-level keys replace)."""
        with self._write(f"update the model {name!r}") as conn:
            model_id = self._model_id(conn, name, lock=True)
            row = conn.execute(f"{MODELS} WHERE m.id = ?", (model_id,)).fetchone()
            merged = {**self._records.properties(row[3]), **(tags or {})}
            conn.execute(
                "UPDATE registered_models SET description = ?, tags = ?, updated_at = ? "
                "WHERE id = ?",
                (
                    row[2] if description is None else description,
                    json_dumps(merged),
                    self._records.ts_value(utc_now()),
                    model_id,
                ),
            )
            rows = conn.execute(f"{MODELS} WHERE m.id = ?", (model_id,)).fetchall()
            return self._model_records(conn, rows)[0]

    # --- versions ---------------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        artifact_id: int,
        *,
        description: str = "",
        tags: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Add the next version of ``name`` bound to the LIVE ``Model`` artifact ``artifact_id``."""
        with self._write(f"add a version to the model {name!r}") as conn:
            model_id = self._model_id(conn, name, lock=True)
            found = conn.execute(
                "SELECT a.state, t.name FROM artifacts a JOIN types t ON t.id = a.type_id "
                "WHERE a.id = ?",
                (artifact_id,),
            ).fetchone()
            if found is None:
                raise NotFoundError(f"No artifact with id {artifact_id!r} in the metadata store.")
            state, type_name = found
            if type_name.partition("@")[0] != MODEL_TYPE or state != "LIVE":
                raise ValueError(
                    f"Artifact {artifact_id} is a {state} {type_name!r}; a model version must "
                    f"be bound to a LIVE {MODEL_TYPE!r} artifact (a trainer's model output)."
                )
            (latest,) = conn.execute(
                "SELECT COALESCE(MAX(version), 0) FROM model_versions WHERE model_id = ?",
                (model_id,),
            ).fetchone()
            now = self._records.ts_value(utc_now())
            conn.execute(
                "INSERT INTO model_versions "
                "(model_id, version, artifact_id, description, tags, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (model_id, latest + 1, artifact_id, description, json_dumps(dict(tags or {})), now),
            )
            conn.execute(
                "UPDATE registered_models SET updated_at = ? WHERE id = ?", (now, model_id)
            )
            row = self._version_row(conn, model_id, name, latest + 1)
            return self._version_records(conn, [row], with_aliases=False)[0]

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        """Version ``version`` of ``name``; :class:`NotFoundError` naming what is missing."""
        with self._read(f"read version {version!r} of the model {name!r}") as conn:
            row = self._version_row(conn, self._model_id(conn, name), name, version)
            return self._version_records(conn, [row])[0]

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first."""
        with self._read(f"list the versions of the model {name!r}") as conn:
            model_id = self._model_id(conn, name)
            query = f"{VERSIONS} WHERE v.model_id = ? ORDER BY v.version"
            return self._version_records(conn, conn.execute(query, (model_id,)).fetchall())

    def update_model_version(
        self,
        name: str,
        version: int,
        *,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Replace a version's description and/or merge its tags."""
        with self._write(f"update version {version!r} of the model {name!r}") as conn:
            model_id = self._model_id(conn, name, lock=True)
            row = self._version_row(conn, model_id, name, version)
            merged = {**self._records.properties(row[6]), **(tags or {})}
            conn.execute(
                "UPDATE model_versions SET description = ?, tags = ? WHERE id = ?",
                (row[5] if description is None else description, json_dumps(merged), row[0]),
            )
            row = self._version_row(conn, model_id, name, version)
            return self._version_records(conn, [row])[0]

    # --- aliases ----------------------------------------------------------------------------
    def _blessed(self, conn: Conn, artifact_id: int) -> bool:
        for properties, type_name, fingerprint in conn.execute(
            BLESSINGS, (artifact_id, BLESSING_INPUT)
        ).fetchall():
            props = self._records.properties(properties)
            judged = props.get("model_fingerprint")
            if (
                type_name.partition("@")[0] == BLESSING_TYPE
                and props.get("blessed") is True
                and (judged is None or fingerprint is None or judged == fingerprint)
            ):
                return True
        return False

    def is_blessed(self, artifact_id: int) -> bool:
        """Whether an evaluation took the artifact as its ``model`` input and wrote a LIVE
        ``ModelBlessing`` with ``blessed`` true (one query through lineage)."""
        with self._read(f"look for a blessing of artifact {artifact_id!r}") as conn:
            return self._blessed(conn, artifact_id)

    def _move(
        self,
        conn: Conn,
        model_id: int,
        name: str,
        alias: str,
        target: Any,
        *,
        forced: bool,
        reason: str,
        actor: str | None,
    ) -> AliasChange:
        """Point ``alias`` at the version row ``target`` (None deletes it) and record the move,
        in ``conn``'s transaction (the model row is locked)."""
        current = conn.execute(
            "SELECT al.id, v.version FROM model_aliases al "
            "JOIN model_versions v ON v.id = al.version_id WHERE al.model_id = ? AND al.alias = ?",
            (model_id, alias),
        ).fetchone()
        if current is None and target is None:
            raise NotFoundError(f"Model {name!r} has no alias {alias!r}.")
        now = utc_now()
        ts = self._records.ts_value(now)
        if target is None:
            conn.execute("DELETE FROM model_aliases WHERE id = ?", (current[0],))
        elif current is None:
            conn.execute(
                "INSERT INTO model_aliases (model_id, alias, version_id, updated_at) "
                "VALUES (?, ?, ?, ?)",
                (model_id, alias, target[0], ts),
            )
        else:
            conn.execute(
                "UPDATE model_aliases SET version_id = ?, updated_at = ? WHERE id = ?",
                (target[0], ts, current[0]),
            )
        change = AliasChange(
            model_name=name,
            alias=alias,
            from_version=None if current is None else current[1],
            to_version=None if target is None else target[2],
            changed_at=now,
            actor=actor or default_actor(),
            reason=reason,
            forced=forced,
        )
        conn.execute(
            "INSERT INTO model_alias_history (model_id, alias, from_version, to_version, "
            "changed_at, actor, reason, forced) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                model_id,
                alias,
                change.from_version,
                change.to_version,
                ts,
                change.actor,
                reason,
                forced,
            ),
        )
        return change

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        force: bool = False,
        reason: str = "",
        actor: str | None = None,
    ) -> AliasChange:
        """Point ``alias`` at ``version``, recording the move in the same transaction.

        The version's model must be blessed (:meth:`is_blessed`); otherwise the move is
        refused with :class:`UnblessedModelError` unless ``force=True`` with a non-empty
        ``reason``, and the history row says ``forced``.
        """
        check_name("alias", alias)
        if force and not reason.strip():
            raise ValueError("A forced alias move needs a reason (it is recorded in the history).")
        with self._write(f"move the alias {name}@{alias} to version {version!r}") as conn:
            model_id = self._model_id(conn, name, lock=True)
            target = self._version_row(conn, model_id, name, version)
            blessed = self._blessed(conn, target[3])
            if not blessed and not force:
                raise UnblessedModelError(
                    f"Refused to point {name}@{alias} at version {version}: no evaluation "
                    f"blessed its model (artifact {target[3]}, {target[4]}). Evaluate it with "
                    "the evaluator component, or force the move with a reason "
                    "(force=True, reason=...; CLI: --force --reason TEXT)."
                )
            return self._move(
                conn, model_id, name, alias, target, forced=not blessed, reason=reason, actor=actor
            )

    def delete_alias(
        self, name: str, alias: str, *, reason: str = "", actor: str | None = None
    ) -> AliasChange:
        """Remove ``alias`` (recorded in its history)."""
        with self._write(f"delete the alias {name}@{alias}") as conn:
            model_id = self._model_id(conn, name, lock=True)
            return self._move(
                conn, model_id, name, alias, None, forced=False, reason=reason, actor=actor
            )

    def rollback_alias(
        self, name: str, alias: str, *, reason: str = "", actor: str | None = None
    ) -> AliasChange:
        """Move ``alias`` back to the version it pointed at before its last change, recorded
        as a move (a second rollback undoes the first). The earlier version was admitted
        when the alias first pointed at it, so no blessing is required again.

        Raises:
            NotFoundError: the alias has no earlier version.
        """
        with self._write(f"roll back the alias {name}@{alias}") as conn:
            model_id = self._model_id(conn, name, lock=True)
            last = conn.execute(
                "SELECT from_version FROM model_alias_history WHERE model_id = ? AND alias = ? "
                "ORDER BY changed_at DESC, id DESC LIMIT 1",
                (model_id, alias),
            ).fetchone()
            if last is None or last[0] is None:
                raise NotFoundError(
                    f"{name}@{alias} has no earlier version to roll back to "
                    f"({'it was never set' if last is None else 'its last change created it'})."
                )
            target = self._version_row(conn, model_id, name, last[0])
            why = reason or f"rollback to version {last[0]}"
            return self._move(
                conn, model_id, name, alias, target, forced=False, reason=why, actor=actor
            )

    # --- resolution and history -------------------------------------------------------------
    def resolve_model(self, ref: str | ModelRef) -> ModelVersion:
        """The version ``NAME@ALIAS``, ``NAME/VERSION`` or ``models:/...`` names.

        Raises:
            ConfigError: ``ref`` is not a model reference.
            NotFoundError: no such model, alias or version (the message names it).
        """
        parsed = ref if isinstance(ref, ModelRef) else parse_model_ref(ref)
        with self._read(f"resolve the model {parsed}") as conn:
            model_id = self._model_id(conn, parsed.name)
            if parsed.version is not None:
                row = self._version_row(conn, model_id, parsed.name, parsed.version)
                return self._version_records(conn, [row])[0]
            row = conn.execute(
                f"{VERSIONS} JOIN model_aliases al ON al.version_id = v.id "
                "WHERE al.model_id = ? AND al.alias = ?",
                (model_id, parsed.alias),
            ).fetchone()
            if row is None:
                known = [
                    a
                    for (a,) in conn.execute(
                        "SELECT alias FROM model_aliases WHERE model_id = ? ORDER BY alias",
                        (model_id,),
                    ).fetchall()
                ]
                raise NotFoundError(
                    f"Model {parsed.name!r} has no alias {parsed.alias!r} (aliases: "
                    f"{known or 'none'}). Set one with `conveyor models promote "
                    f"{parsed.name} VERSION --to {parsed.alias}`."
                )
            return self._version_records(conn, [row])[0]

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        """Every change of ``name``'s aliases (or of one), oldest first."""
        with self._read(f"read the alias history of the model {name!r}") as conn:
            model_id = self._model_id(conn, name)
            query, params = f"{HISTORY} WHERE h.model_id = ?", list[Any]([model_id])
            if alias is not None:
                query += " AND h.alias = ?"
                params.append(alias)
            rows = conn.execute(f"{query} ORDER BY h.changed_at, h.id", params).fetchall()
            return [self._change(r) for r in rows]

    def alias_at(self, name: str, alias: str, when: datetime) -> ModelVersion | None:
        """The version ``alias`` pointed at at time ``when`` (None: unset then), in ONE query
        (an unknown model reads as None too)."""
        if when.tzinfo is None:
            raise ValueError(f"alias_at needs a timezone-aware time, got naive {when!r}.")
        with self._read(f"read {name}@{alias} at {when.isoformat()}") as conn:
            row = conn.execute(AT, (name, alias, self._records.ts_value(when))).fetchone()
            if row is None or row[-1] is None:
                return None
            return self._version_records(conn, [row[:-1]], with_aliases=False)[0]
