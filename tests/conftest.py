"""Shared fixtures: a PostgreSQL schema per test session for the metadata store tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

from conveyor._internal.openmp import configure_openmp

# Tests run two at a time (xdist) and train boosted models: OpenMP threads must not spin long.
configure_openmp()

# The Ctrl-C tests send SIGINT to the commands they start, as a terminal does. A suite started
# in the background by a non-interactive shell (`make test &`, nohup) inherits SIGINT ignored,
# and every command it starts would inherit that too and never see the Ctrl-C: give them the
# disposition a terminal's foreground process has.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

PG_SERVER = os.environ.get("CONVEYOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_uri() -> Iterator[str]:
    """A metadata store URI on a fresh PostgreSQL schema, dropped when the session ends.

    Each pytest-xdist worker is its own session, so workers never share a schema. Fails (rather
    than skips) when the server is down: start it with
    ``pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start``.
    """
    psycopg = pytest.importorskip("psycopg")
    schema = f"cv_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(PG_SERVER, autocommit=True, connect_timeout=5):
            pass
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_SERVER}: {exc}")
    yield f"{PG_SERVER}?schema={schema}"
    with psycopg.connect(PG_SERVER, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


RESOURCE_PIPELINES = os.path.join(os.path.dirname(__file__), "resources", "pipelines")
"""Small importable pipeline modules used as fixtures (Hamilton's tests/resources)."""


@pytest.fixture
def load_resource() -> Callable[[str], ModuleType]:
    """Import ``tests/resources/pipelines/NAME.py`` as the top-level module ``NAME``.

    It is imported the way ``conveyor run FILE.py`` imports a file, so the IR records the same
    module name and source file as it would for a user.
    """
    from conveyor._internal.importing import import_file

    def _load(name: str) -> ModuleType:
        return import_file(os.path.join(RESOURCE_PIPELINES, f"{name}.py"))

    return _load


BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")


@pytest.fixture
def load_bench() -> Callable[[str], ModuleType]:
    """A bench script ``bench/NAME.py`` as a module (bench/ is not a package: its scripts
    import ``_shared``, so the folder goes on ``sys.path``)."""
    import importlib.util
    import sys

    def _load(name: str) -> ModuleType:
        if BENCH not in sys.path:
            sys.path.insert(0, BENCH)
        spec = importlib.util.spec_from_file_location(
            f"bench_{name}", os.path.join(BENCH, f"{name}.py")
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module

    return _load


@pytest.fixture(scope="session", autouse=True)
def _private_agent_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Commands started by the tests use warm agents of their own, stopped at the end."""
    import signal

    folder = tmp_path_factory.mktemp("agents")
    folder.chmod(0o700)
    previous = os.environ.get("CONVEYOR_AGENT_DIR")
    os.environ["CONVEYOR_AGENT_DIR"] = str(folder)
    yield str(folder)
    for pid_file in folder.glob("*.pid"):
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(json.loads(pid_file.read_text())["pid"]), signal.SIGTERM)
    if previous is None:
        os.environ.pop("CONVEYOR_AGENT_DIR", None)
    else:
        os.environ["CONVEYOR_AGENT_DIR"] = previous
