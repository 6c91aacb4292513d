"""Settings: environment over conveyor.toml over defaults."""

from __future__ import annotations

import pytest

from conveyor.config import Settings
from conveyor.errors import ConfigError


def test_defaults_live_under_the_home(tmp_path):
    s = Settings.load(env={}, cwd=str(tmp_path))
    assert s.home == str(tmp_path / ".conveyor")
    assert s.metadata_url == f"sqlite:///{tmp_path}/.conveyor/metadata.db"
    assert s.artifact_root == str(tmp_path / ".conveyor" / "artifacts")
    assert s.workers >= 1 and s.config_file is None


def test_environment_wins_over_toml(tmp_path):
    (tmp_path / "conveyor.toml").write_text(
        '[conveyor]\nmetadata_url = "sqlite:///from-toml.db"\nworkers = 3\n'
        'artifact_root = "s3://bucket/prefix"\n'
    )
    s = Settings.load(env={"CONVEYOR_WORKERS": "5"}, cwd=str(tmp_path))
    assert s.metadata_url == "sqlite:///from-toml.db"
    assert s.workers == 5
    assert s.artifact_root == "s3://bucket/prefix"
    assert s.config_file == str(tmp_path / "conveyor.toml")


def test_overrides_win_over_environment(tmp_path):
    s = Settings.load(env={"CONVEYOR_HOME": "/a"}, cwd=str(tmp_path), overrides={"home": "/b"})
    assert s.home == "/b"


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("colour = 'blue'\n", {}, "unknown setting"),
        ("workers = 'many'\n", {}, "whole number"),
        ("", {"CONVEYOR_WORKERS": "0"}, "must be >= 1"),
        ("not toml at all [", {}, "Cannot read"),
    ],
)
def test_bad_settings_say_what_and_where(tmp_path, toml, env, message):
    (tmp_path / "conveyor.toml").write_text(toml)
    with pytest.raises(ConfigError, match=message):
        Settings.load(env=env, cwd=str(tmp_path))


def test_named_config_file_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(env={"CONVEYOR_CONFIG": str(tmp_path / "nope.toml")}, cwd=str(tmp_path))
