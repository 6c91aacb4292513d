"""The server's prediction log folder: names checked, nothing outside the root (the logging
itself runs against a real server in tests/e2e/test_prediction_logging.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.errors import ConfigError
from conveyor.serve.server import check_log_dir


def test_a_model_name_that_is_not_a_folder_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Cannot log predictions of model '\.\.'"):
        check_log_dir(str(tmp_path), "..", None)
    with pytest.raises(ConfigError, match="not a single path segment"):
        check_log_dir(str(tmp_path), "census", "1/2")


def test_a_log_folder_leading_outside_its_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "logs"
    root.mkdir()
    (root / "census").symlink_to(outside)
    with pytest.raises(ConfigError, match="Refusing to write at"):
        check_log_dir(str(root), "census", "3")
    assert list(outside.iterdir()) == []


def test_a_log_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("a file")
    with pytest.raises(ConfigError, match=r"Cannot create the prediction log folder .*--log-dir"):
        check_log_dir(str(taken), "census", None)


def test_a_local_log_dir_is_made_absolute_and_its_model_folder_created(tmp_path: Path) -> None:
    assert check_log_dir(f"file://{tmp_path}/logs", "census", "3") == str(tmp_path / "logs")
    assert (tmp_path / "logs" / "census" / "3").is_dir()
