"""Importers: bring an external file or folder into a pipeline as a versioned artifact.

A step that reads a file by path cannot know when the file changes, so its cache would go
stale. An importer copies the bytes into the artifact store on every run (it is never
cached itself); steps downstream are keyed on the copy's content digest, so they are
reused while the bytes are the same and rerun as soon as they change.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

from conveyor._internal.paths import is_remote
from conveyor.dsl import Output, component
from conveyor.storage import content_digest
from conveyor.types import Artifact, Dataset, Model

__all__ = ["copy_source", "import_artifact", "import_dataset", "import_model"]


def copy_source(source: str, dest: str, *, link: bool = False) -> None:
    """Copy the file or folder at ``source`` (local path or fsspec URL) to ``dest``.

    ``link`` hard-links local files where the file system allows (for immutable sources such
    as artifacts: sharing the bytes is safe and costs nothing), copying otherwise.

    Raises:
        FileNotFoundError: nothing exists at ``source``.
    """
    if is_remote(source):
        import fsspec

        fs, path = fsspec.core.url_to_fs(source)
        if not fs.exists(path):
            raise FileNotFoundError(f"Nothing to import at {source!r}")
        fs.get(path, dest, recursive=fs.isdir(path))
        return
    source = source.removeprefix("file://")
    if os.path.isdir(source):
        shutil.copytree(source, dest, copy_function=_link_or_copy if link else shutil.copy2)
    elif os.path.isfile(source):
        (_link_or_copy if link else shutil.copyfile)(source, dest)
    else:
        raise FileNotFoundError(
            f"Nothing to import at {source!r} (working directory {os.getcwd()!r}). "
            "Give an existing file or folder, or an fsspec URL"
        )


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _planned(key: str) -> Callable[[str], dict[str, str]]:
    def plan(path: str) -> dict[str, str]:
        return {key: content_digest(path)}

    return plan


@component(cache=False, plan_outputs=_planned("data"))
def import_dataset(path: str, data: Output[Dataset]) -> None:
    """Import a data file or folder (local path or fsspec URL) as a Dataset."""
    copy_source(path, data.path)
    data.metadata["source"] = path


@component(cache=False, plan_outputs=_planned("model"))
def import_model(path: str, model: Output[Model]) -> None:
    """Import a model file or folder (local path or fsspec URL) as a Model."""
    copy_source(path, model.path)
    model.metadata["source"] = path


@component(cache=False, plan_outputs=_planned("artifact"))
def import_artifact(path: str, artifact: Output[Artifact]) -> None:
    """Import any file or folder (local path or fsspec URL) as a generic Artifact."""
    copy_source(path, artifact.path)
    artifact.metadata["source"] = path
