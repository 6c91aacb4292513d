"""``conveyor models ...``: JSON output, exit codes (0 ok, 2 not found or usage, 1 refused),
promotion, forced moves with their reason, rollback and the time query, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conveyor.cli.main import cli
from conveyor.metadata.sql import SqlMetadataStore
from conveyor.testing.registry import bless, model_artifact


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Settings whose store holds three Model artifacts, the first two blessed."""
    url = (
        f"sqlite:///{tmp_path / 'metadata.db'}"
        if request.param == "sqlite"
        else str(request.getfixturevalue("pg_uri"))
    )
    ids = []
    with SqlMetadataStore(url) as store:
        for key in "abc":
            ids.append(str(model_artifact(store, "census", key)))
            if key != "c":
                bless(store, int(ids[-1]))
    return {
        "CONVEYOR_HOME": str(tmp_path / "home"),
        "CONVEYOR_METADATA_URL": url,
        "IDS": " ".join(ids),
    }


def _run(env: dict[str, str], *args: str, code: int = 0) -> Any:
    result = CliRunner().invoke(cli, ["models", *args], env=env)
    assert result.exit_code == code, (args, result.output, result.exception)
    return json.loads(result.output) if "--json" in args and code == 0 else result.output


def test_register_promote_force_rollback_and_history(env: dict[str, str]) -> None:
    name = f"census-{uuid.uuid4().hex[:8]}"  # the PostgreSQL schema is shared by the session
    blessing = str(int(env["IDS"].split()[0]) + 1)
    assert "LIVE 'conveyor.Model'" in _run(env, "register", name, blessing, code=2)
    for artifact_id in env["IDS"].split():
        _run(env, "register", name, artifact_id, "--json")
    listed = _run(env, "list", "--json")
    assert [m["latest_version"] for m in listed if m["name"] == name] == [3]
    assert [v["version"] for v in _run(env, "versions", name, "--json")] == [1, 2, 3]
    moved = _run(env, "promote", name, "1", "--json")
    assert (moved["alias"], moved["from_version"], moved["to_version"]) == ("champion", None, 1)
    _run(env, "promote", name, "2", "--json")
    refused = _run(env, "alias", name, "champion", "3", code=1)
    assert "no evaluation blessed" in refused
    _run(env, "alias", name, "champion", "3", "--force", code=2)  # --force needs --reason
    forced = _run(env, "alias", name, "champion", "3", "--force", "--reason", "hotfix", "--json")
    assert (forced["forced"], forced["reason"]) == (True, "hotfix")
    back = _run(env, "rollback", name, "--json")
    assert (back["from_version"], back["to_version"]) == (3, 2)
    shown = _run(env, "show", name, "--json")
    assert shown["aliases"] == {"champion": 2}
    assert [v["aliases"] for v in shown["versions"]] == [[], ["champion"], []]
    history = _run(env, "history", name, "--alias", "champion", "--json")
    assert [(h["from_version"], h["to_version"], h["forced"]) for h in history] == [
        (None, 1, False),
        (1, 2, False),
        (2, 3, True),
        (3, 2, False),
    ]
    at = _run(
        env, "history", name, "--alias", "champion", "--at", history[2]["changed_at"], "--json"
    )
    assert at["version"]["version"] == 3
    early = _run(
        env, "history", name, "--alias", "champion", "--at", "2000-01-01T00:00:00", "--json"
    )
    assert early["version"] is None


def test_missing_names_exit_2_and_say_what_is_missing(env: dict[str, str]) -> None:
    name = f"census-{uuid.uuid4().hex[:8]}"
    assert "'nope'" in _run(env, "show", "nope", code=2)
    _run(env, "register", name, env["IDS"].split()[0])
    assert "no version 9" in _run(env, "promote", name, "9", code=2)
    assert "no earlier version" in _run(env, "rollback", name, code=2)
    assert "--at needs --alias" in _run(env, "history", name, "--at", "2026-01-01", code=2)
