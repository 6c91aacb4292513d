"""``conveyor.load_model("models:/NAME@ALIAS")`` loads the version the alias points at, through
the settings' metadata store; missing names, aliases and versions are named in the error."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from toy_models import CLASSES, SCHEMA, toy_table

import conveyor
from conveyor.config import Settings
from conveyor.errors import ArtifactNotFoundError, ConfigError, NotFoundError
from conveyor.metadata import ExecutionState, NewArtifact
from conveyor.metadata.sql import SqlMetadataStore
from conveyor.model.presets import create_estimator
from conveyor.model.saved import save_model
from conveyor.model.transform import fit_transform
from conveyor.runner import resolve_model_uri
from conveyor.testing.registry import bless

TABLE = toy_table(200)


def _train(path: Path, c: float) -> str:
    fitted = fit_transform(TABLE, SCHEMA, "y")
    estimator, _ = create_estimator("sklearn:LogisticRegression", "classification", {"C": c})
    estimator.fit(fitted.matrix(TABLE), np.searchsorted(CLASSES, TABLE.column("y").to_pylist()))
    save_model(str(path), estimator, fitted, task="classification", label="y", classes=CLASSES)
    return str(path)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, list[str]]:
    """A store with census versions 1 (C=1e-4) and 2 (C=100); champion -> 2, old -> 1."""
    root = tmp_path_factory.mktemp("registry")
    settings = Settings.load(env={"CONVEYOR_HOME": str(root / "home")}, cwd=str(root))
    paths = [_train(root / "v1", 1e-4), _train(root / "v2", 100.0)]
    with SqlMetadataStore(settings.metadata_url) as store:
        store.register_model("census")
        for path in paths:
            _, [model] = store.record_execution(
                "Trainer",
                "trainer",
                ExecutionState.COMPLETE,
                outputs=[NewArtifact("model", "conveyor.Model@1.0.0", path, fingerprint=path)],
            )
            bless(store, model.id)
            store.create_model_version("census", model.id)
        store.set_alias("census", "champion", 2)
        store.set_alias("census", "old", 1)
    return settings, paths


def test_models_uris_load_the_aliased_and_numbered_versions(
    registry: tuple[Settings, list[str]],
) -> None:
    settings, paths = registry
    champion = conveyor.load_model("models:/census@champion", settings=settings)
    assert champion.path == paths[1]
    assert conveyor.load_model("models:/census/1", settings=settings).path == paths[0]
    rows = {"x": [3.0, -3.0], "c": ["a", "b"]}
    weak = conveyor.load_model("models:/census@old", settings=settings).predict_proba(rows)
    strong = champion.predict_proba(rows)
    assert not np.allclose(weak, strong), "the two versions predicted the same"
    assert resolve_model_uri("/some/folder", settings=settings) == "/some/folder"


@pytest.mark.parametrize(
    ("uri", "named"),
    [
        ("models:/nope@champion", "'nope'"),
        ("models:/census@staging", "'staging'"),
        ("models:/census/9", "version 9"),
    ],
)
def test_a_missing_model_alias_or_version_is_named(
    registry: tuple[Settings, list[str]], uri: str, named: str
) -> None:
    with pytest.raises(NotFoundError, match=named):
        conveyor.load_model(uri, settings=registry[0])


def test_a_malformed_models_uri_shows_both_forms(registry: tuple[Settings, list[str]]) -> None:
    with pytest.raises(ConfigError, match="models:/NAME@ALIAS"):
        conveyor.load_model("models:/census", settings=registry[0])


def test_a_version_whose_files_are_gone_says_so(
    registry: tuple[Settings, list[str]], tmp_path: Path
) -> None:
    settings, _ = registry
    gone = tmp_path / "gone"
    _train(gone, 1.0)
    with SqlMetadataStore(settings.metadata_url) as store:
        _, [model] = store.record_execution(
            "Trainer",
            "trainer",
            ExecutionState.COMPLETE,
            outputs=[NewArtifact("model", "conveyor.Model@1.0.0", str(gone))],
        )
        version = store.create_model_version("census", model.id).version
    shutil.rmtree(gone)
    with pytest.raises(ArtifactNotFoundError, match=f"version {version} of 'census'"):
        conveyor.load_model(f"models:/census/{version}", settings=settings)
