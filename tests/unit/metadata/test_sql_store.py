"""SqlMetadataStore specifics: SQLite setup, migrations, error translation, fork safety."""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conveyor.errors import ConfigError, MissingExtraError, NotFoundError, StoreError
from conveyor.metadata import ExecutionState, MetadataStore, NewArtifact, connect
from conveyor.metadata.sql import HEAD_REVISION, SqlMetadataStore, _db, _engine, _migrate, _sa
from conveyor.metadata.sql.models import metadata

COMPLETE = ExecutionState.COMPLETE


@pytest.fixture
def db_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'metadata.db'}"


@pytest.fixture
def store(db_uri: str) -> Iterator[SqlMetadataStore]:
    s = SqlMetadataStore(db_uri)
    yield s
    s.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_uri(request: pytest.FixtureRequest, db_uri: str) -> str:
    """A SQLite file, or the session's PostgreSQL schema (shared: names must be unique)."""
    return db_uri if request.param == "sqlite" else str(request.getfixturevalue("pg_uri"))


def _out(key: str = "model") -> NewArtifact:
    return NewArtifact(key=key, type_name="Model", uri=f"mem://{key}")


def _statements(store: SqlMetadataStore) -> list[str]:
    """Record every SQL statement SQLite runs for the store from now on (sqlite3 trace)."""
    seen: list[str] = []
    store._db.close()
    store._db.connect_hooks.append(lambda raw: raw.set_trace_callback(seen.append))
    return seen


@contextmanager
def _alembic_engine(uri: str) -> Iterator[sa.Engine]:
    """A SQLAlchemy engine on a store's database (what migrations run on)."""
    engine = _sa.create_engine(_engine.parse_uri(uri))
    try:
        yield engine
    finally:
        engine.dispose()


# --- SQLite setup ---------------------------------------------------------------------------
def test_sqlite_store_sets_pragmas_on_every_connection(store: SqlMetadataStore) -> None:
    raw = store._db.connect()
    try:

        def pragma(name: str) -> Any:
            return raw.execute(f"PRAGMA {name}").fetchone()[0]

        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("synchronous") == 1  # NORMAL
        assert pragma("busy_timeout") == _engine.BUSY_TIMEOUT_MS
        assert pragma("page_size") == _engine.PAGE_SIZE
    finally:
        raw.close()


def test_sqlite_store_creates_missing_folder_for_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with SqlMetadataStore("sqlite:///deep/er/metadata.db") as store:
        store.put_context("Run", "r")
    assert (tmp_path / "deep" / "er" / "metadata.db").is_file()


def test_sqlite_store_writes_begin_immediate_and_reads_begin(store: SqlMetadataStore) -> None:
    seen = _statements(store)
    store.record_execution("T", "t", COMPLETE, outputs=[_out()])
    store.list_executions()
    begins = [s for s in seen if s.startswith("BEGIN")]
    assert begins[0] == "BEGIN IMMEDIATE"
    assert begins[-1] == "BEGIN"


def test_in_memory_store_shares_one_database_across_threads() -> None:
    with SqlMetadataStore("sqlite://") as store:
        eid, _ = store.record_execution("T", "t", COMPLETE)
        seen: list[int] = []
        thread = threading.Thread(target=lambda: seen.append(store.get_execution(eid).id))
        thread.start()
        thread.join()
        assert seen == [eid]


def test_two_in_memory_stores_are_independent() -> None:
    with SqlMetadataStore("sqlite://") as one, SqlMetadataStore("sqlite://") as two:
        one.put_context("Run", "r")
        assert two.find_context("Run", "r") is None


# --- URIs -----------------------------------------------------------------------------------
def test_connect_unknown_scheme_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="mysql"):
        connect("mysql://user@host/db")


def test_connect_sqlite_with_schema_parameter_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="schema"):
        connect(f"sqlite:///{tmp_path}/m.db?schema=x")


def test_connect_postgres_bad_schema_name_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="identifier"):
        connect("postgresql://u@localhost/db?schema=a;drop")


def test_connect_postgres_without_psycopg_raises_missing_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "psycopg" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(MissingExtraError, match=r"conveyor-ml\[postgres\]"):
        connect("postgresql://u@localhost/db")


def test_parse_uri_maps_postgres_to_libpq_and_hides_password() -> None:
    target = _engine.parse_uri("postgresql://u:secret@h:5433/db?schema=s1&sslmode=disable")
    assert (target.backend, target.schema) == ("postgresql", "s1")
    assert target.database == "postgresql://u:secret@h:5433/db?sslmode=disable"
    assert target.display == "postgresql://u:***@h:5433/db?schema=s1&sslmode=disable"
    for alias in ("postgres://u@h/db", "postgresql+psycopg://u@h/db"):
        assert _engine.parse_uri(alias).database == "postgresql://u@h/db"


@pytest.mark.parametrize(
    ("uri", "memory", "database"),
    [
        ("sqlite://", True, None),
        ("sqlite:///:memory:", True, None),
        ("sqlite:///rel/m.db", False, "rel/m.db"),
        ("sqlite:////abs/m.db", False, "/abs/m.db"),
        ("sqlite:///with%20space.db", False, "with space.db"),
    ],
)
def test_parse_uri_accepts_the_sqlite_forms(uri: str, memory: bool, database: str | None) -> None:
    target = _engine.parse_uri(uri)
    assert (target.backend, target.memory, target.database) == ("sqlite", memory, database)
    assert target.display == uri


@pytest.mark.parametrize("uri", ["metadata.db", "/tmp/m.db", "sqlite:", "postgresql://h:port/db"])
def test_parse_uri_rejects_what_is_not_a_uri(uri: str) -> None:
    with pytest.raises(ConfigError, match="Cannot parse"):
        _engine.parse_uri(uri)


def test_import_conveyor_metadata_does_not_import_sqlalchemy() -> None:
    code = "import conveyor, conveyor.metadata, sys; print('sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- migrations -----------------------------------------------------------------------------
def test_head_revision_matches_migration_scripts() -> None:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(_migrate.MIGRATIONS_DIR))
    assert scripts.get_heads() == [HEAD_REVISION]
    chain = [s.revision for s in scripts.walk_revisions("base", "heads")]
    assert tuple(reversed(chain)) == _migrate.REVISIONS


def test_migration_is_idempotent_and_skips_alembic_when_current(
    store: SqlMetadataStore, db_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("migrate() ran on an up-to-date database")

    monkeypatch.setattr(_migrate, "migrate", fail)
    with SqlMetadataStore(db_uri):
        pass
    with store._db.transaction(write=False) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (HEAD_REVISION,)
        ]


def test_connect_to_migrated_store_does_not_import_alembic(db_uri: str) -> None:
    connect(db_uri).close()
    code = (
        "import sys; from conveyor.metadata import connect; "
        f"connect({db_uri!r}).close(); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_migration_matches_models(any_uri: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with (
        SqlMetadataStore(any_uri),
        _alembic_engine(any_uri) as engine,
        engine.connect() as conn,
    ):
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_migration_downgrade_then_upgrade_round_trip(store: SqlMetadataStore, db_uri: str) -> None:
    store.record_execution("T", "t", COMPLETE, outputs=[_out()])
    store.close()
    with _alembic_engine(db_uri) as engine:
        _migrate.migrate(engine, "base", direction="downgrade")
        tables = set(sa.inspect(engine).get_table_names())
        assert tables <= {"alembic_version"}
        _migrate.migrate(engine, "head")
        assert set(metadata.tables) <= set(sa.inspect(engine).get_table_names())
    with SqlMetadataStore(db_uri) as fresh:
        eid, _ = fresh.record_execution("T", "t", COMPLETE, outputs=[_out()])
        assert fresh.get_execution(eid).name == "t"


def test_connect_refuses_database_from_newer_conveyor(store: SqlMetadataStore, db_uri: str) -> None:
    with store._db.transaction(write=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreError, match="newer"):
        connect(db_uri)


# --- error translation ----------------------------------------------------------------------
def test_unknown_input_id_raises_not_found_with_clear_message(any_uri: str) -> None:
    name = f"t-{uuid.uuid4().hex}"
    with SqlMetadataStore(any_uri) as store:
        with pytest.raises(NotFoundError, match="does not exist") as info:
            store.record_execution(
                "T", name, COMPLETE, inputs=[("data", 987_654_321)], outputs=[_out()]
            )
        assert f"record the execution {name!r}" in str(info.value)
        assert not isinstance(info.value, sa.exc.SQLAlchemyError)
        assert store.list_executions(name=name) == [], "the failed transaction left rows"
        # the store's write connection is usable again after the failed transaction
        eid, _ = store.record_execution("T", name, COMPLETE, outputs=[_out()])
        assert store.get_execution(eid).name == name


def test_unknown_parent_context_raises_not_found(store: SqlMetadataStore) -> None:
    with pytest.raises(NotFoundError):
        store.put_context("Run", "r", parents=[424242])


def test_context_cannot_be_its_own_parent(store: SqlMetadataStore) -> None:
    ctx = store.put_context("Run", "r")
    with pytest.raises(ValueError, match="own parent"):
        store.put_context("Run", "r", parents=[ctx.id])


def test_locked_database_raises_store_error_with_hint(
    store: SqlMetadataStore, db_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_engine, "BUSY_TIMEOUT_MS", 50)
    store.close()  # reconnect with the short timeout
    holder = sqlite3.connect(db_uri.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="write lock") as info:
            store.record_execution("T", "t", COMPLETE)
        assert "database is locked" in str(info.value)
        assert db_uri.removeprefix("sqlite:///") in str(info.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_unreachable_postgres_raises_store_error_with_hint() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError, match="server is running") as info:
        connect("postgresql://nobody@127.0.0.1:1/nowhere")
    assert "127.0.0.1:1/nowhere" in str(info.value)


def test_file_that_is_not_a_database_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a database"):
        connect(f"sqlite:///{path}")


def test_unwritable_folder_raises_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="Cannot create the folder"):
        connect(f"sqlite:///{blocker}/sub/m.db")


@pytest.mark.parametrize("value", [float("nan"), object()])
def test_non_json_property_raises_type_error(store: SqlMetadataStore, value: object) -> None:
    with pytest.raises(TypeError, match="JSON"):
        store.put_context("Run", "r", {"bad": value})
    with pytest.raises(TypeError, match="JSON"):
        store.record_execution("T", "t", COMPLETE, properties={"bad": value})


# --- queries --------------------------------------------------------------------------------
def _chain(store: MetadataStore, depth: int) -> int:
    _, [last] = store.record_execution("T", "s0", COMPLETE, outputs=[_out()])
    for step in range(1, depth):
        _, [last] = store.record_execution(
            "T", f"s{step}", COMPLETE, inputs=[("in", last.id)], outputs=[_out()]
        )
    return last.id


def test_lineage_query_count_does_not_grow_with_depth(store: SqlMetadataStore) -> None:
    shallow, deep = _chain(store, 3), _chain(store, 40)
    seen = _statements(store)
    store.lineage(shallow)  # warm the type cache
    seen.clear()
    assert len(store.lineage(shallow).executions) == 3
    shallow_statements = list(seen)
    seen.clear()
    assert len(store.lineage(deep).executions) == 40
    assert len(seen) == len(shallow_statements)
    queries = [s for s in shallow_statements if s.startswith(("WITH", "SELECT"))]
    assert len(queries) == 3, queries  # the walk, the artifacts, the executions


def test_get_artifacts_handles_more_ids_than_one_query_takes(store: SqlMetadataStore) -> None:
    _, made = store.record_execution("T", "t", COMPLETE, outputs=[_out("a"), _out("b")])
    ids = [m.id for m in made]
    assert [a.id for a in store.get_artifacts([*range(10_000, 22_000), *ids])] == ids


def test_lineage_rejects_bad_arguments(store: SqlMetadataStore) -> None:
    with pytest.raises(ValueError, match="direction"):
        store.lineage(1, "sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_depth"):
        store.lineage(1, max_depth=-1)


def test_set_artifact_state_with_unknown_id_changes_nothing(store: SqlMetadataStore) -> None:
    from conveyor.metadata import ArtifactState

    _, [art] = store.record_execution("T", "t", COMPLETE, outputs=[_out()])
    with pytest.raises(NotFoundError, match="777"):
        store.set_artifact_state([art.id, 777], ArtifactState.DELETED)
    assert store.get_artifact(art.id).state is ArtifactState.LIVE


# --- fork safety ----------------------------------------------------------------------------
def _child_uses_inherited_and_new_store(store: SqlMetadataStore, uri: str, tag: str) -> None:
    # The inherited store reconnects on its own; a fresh connect() works as workers do.
    store.record_execution("T", f"{tag}-child-inherited", COMPLETE, outputs=[_out()])
    with SqlMetadataStore(uri) as fresh:
        fresh.record_execution("T", f"{tag}-child-fresh", COMPLETE)
    os._exit(0)  # like a multiprocessing worker: no interpreter teardown


def test_store_survives_fork_in_parent_and_child(any_uri: str) -> None:
    tag = uuid.uuid4().hex
    with SqlMetadataStore(any_uri) as store:
        store.record_execution("T", f"{tag}-parent-before", COMPLETE)  # the pool holds a conn
        ctx = multiprocessing.get_context("fork")
        child = ctx.Process(target=_child_uses_inherited_and_new_store, args=(store, any_uri, tag))
        child.start()
        child.join(60)
        assert child.exitcode == 0
        store.record_execution("T", f"{tag}-parent-after", COMPLETE)
        names = {e.name for e in store.list_executions() if e.name.startswith(tag)}
    steps = ("parent-before", "child-inherited", "child-fresh", "parent-after")
    assert names == {f"{tag}-{step}" for step in steps}


def _child_checks_pool(store: SqlMetadataStore, parent_pool: int) -> None:
    fresh = id(store._db._idle) != parent_pool and store._db._shared is None
    os._exit(0 if fresh else 1)


def test_forked_child_gets_a_fresh_pool(store: SqlMetadataStore) -> None:
    store.list_executions()
    store.put_context("Run", "r")  # the kept writer is open too
    assert store._db._idle and store._db._shared is not None
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_child_checks_pool, args=(store, id(store._db._idle)))
    child.start()
    child.join(60)
    assert child.exitcode == 0


def _child_uses_memory_copy(store: SqlMetadataStore, eid: int) -> None:
    store.record_execution("T", "child", COMPLETE)
    os._exit(0 if store.get_execution(eid).name == "parent" else 1)


def test_in_memory_store_is_copied_into_forked_child() -> None:
    with SqlMetadataStore("sqlite://") as store:
        eid, _ = store.record_execution("T", "parent", COMPLETE)
        child = multiprocessing.get_context("fork").Process(
            target=_child_uses_memory_copy, args=(store, eid)
        )
        child.start()
        child.join(60)
        assert child.exitcode == 0
        assert [e.name for e in store.list_executions()] == ["parent"]


@pytest.fixture
def two_empty_uris(any_uri: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two URIs of empty databases on the backend of ``any_uri`` (PostgreSQL: two schemas)."""
    if any_uri.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/one.db", f"sqlite:///{tmp_path}/two.db"
        return
    base = any_uri.partition("?")[0]
    tag = uuid.uuid4().hex[:10]
    uris = (f"{base}?schema=one_{tag}", f"{base}?schema=two_{tag}")
    yield uris
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        for uri in uris:
            conn.execute(f'DROP SCHEMA IF EXISTS "{uri.partition("?schema=")[2]}" CASCADE')


def _schema_of(engine: sa.Engine) -> dict[str, Any]:
    inspector = sa.inspect(engine)
    tables = sorted(inspector.get_table_names())
    return {
        t: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(t)],
            sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(t)),
            sorted(str(fk["name"]) for fk in inspector.get_foreign_keys(t)),
            inspector.get_pk_constraint(t)["name"],
            sorted(str(u["name"]) for u in inspector.get_unique_constraints(t)),
        )
        for t in tables
    }


def test_alembic_migration_builds_the_same_schema_as_the_fresh_path(
    two_empty_uris: tuple[str, str],
) -> None:
    """New stores skip Alembic (the embedded DDL + stamp); the migration scripts must agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    fresh_uri, alembic_uri = two_empty_uris
    SqlMetadataStore(fresh_uri).close()  # the embedded DDL
    with _alembic_engine(alembic_uri) as engine:
        _migrate.migrate(engine, "head", schema=_engine.parse_uri(alembic_uri).schema)
    schemas = []
    for uri in (fresh_uri, alembic_uri):
        with _alembic_engine(uri) as engine, engine.connect() as conn:
            assert _migrate.current_revision(_migrate._driver(conn)) == _migrate.HEAD_REVISION
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
            schemas.append(_schema_of(engine))
    assert schemas[0] == schemas[1]
    assert set(metadata.tables) | {"alembic_version"} == set(schemas[0])


def test_fresh_path_leaves_a_non_empty_database_to_alembic(tmp_path: Path) -> None:
    db = _db.Database(_engine.parse_uri(f"sqlite:///{tmp_path}/x.db"))
    try:
        with db.transaction(write=True) as conn:
            conn.execute("CREATE TABLE artifacts (id INTEGER PRIMARY KEY)")
        assert _migrate.create_fresh(db) is False
    finally:
        db.close()


def test_the_embedded_ddl_is_generated_from_the_models() -> None:
    from conveyor.metadata.sql import _ddl

    assert _ddl.SCHEMA_MODULE.read_text(encoding="utf-8") == _ddl.render_module(), (
        "models.py changed: run `python -m conveyor.metadata.sql._ddl` and commit _schema.py"
    )
