"""The local artifact store writes only under its root, whatever the parts or links say."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.errors import ArtifactError
from conveyor.storage import LocalArtifactStore


@pytest.mark.parametrize(
    "parts", [("..", "x"), ("p", "/abs"), ("p", "a/b"), ("p", ""), ("x" * 256,)]
)
def test_uri_for_refuses_parts_that_are_not_one_segment(
    tmp_path: Path, parts: tuple[str, ...]
) -> None:
    store = LocalArtifactStore(str(tmp_path / "artifacts"))

    with pytest.raises(ArtifactError, match="Refusing to write outside"):
        store.uri_for(*parts)


def test_uri_for_refuses_a_path_that_a_symlink_leads_outside_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "artifacts", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "pipeline").symlink_to(outside)
    store = LocalArtifactStore(str(root))

    with pytest.raises(ArtifactError, match="with symbolic links resolved"):
        store.uri_for("pipeline", "run", "out")


def test_staging_and_commit_refuse_a_uri_outside_the_root(tmp_path: Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "artifacts"))
    elsewhere = str(tmp_path / "elsewhere" / "out")

    with pytest.raises(ArtifactError, match="not under the artifact root"):
        store.staging_path(elsewhere)
    staged = store.staging_path(store.uri_for("p", "out"))
    Path(staged).write_text("x")
    with pytest.raises(ArtifactError, match="not under the artifact root"):
        store.commit(staged, elsewhere)
    assert not (tmp_path / "elsewhere").exists()


def test_uri_for_accepts_a_root_that_is_itself_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    store = LocalArtifactStore(str(tmp_path / "link"))

    assert store.uri_for("p", "r", "out") == str(tmp_path / "link" / "p" / "r" / "out")
