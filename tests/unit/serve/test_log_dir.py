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
