"""Conformance checks for ArtifactStore implementations (run them on your own backend)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from conveyor.errors import ArtifactError, ArtifactNotFoundError
from conveyor.storage.store import ArtifactStore

__all__ = ["artifact_store_checks", "check_artifact_store"]

StoreFactory = Callable[[], ArtifactStore]
Check = Callable[[StoreFactory], None]


def _write_file(store: ArtifactStore, uri: str, data: bytes) -> str:
    path = store.staging_path(uri)
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def _write_tree(store: ArtifactStore, uri: str) -> str:
    path = store.staging_path(uri)
    os.makedirs(os.path.join(path, "sub"))
    with open(os.path.join(path, "a.txt"), "wb") as fh:
        fh.write(b"alpha")
    with open(os.path.join(path, "sub", "b.bin"), "wb") as fh:
        fh.write(b"\x00\x01beta")
    return path


def check_commit_file_round_trip(factory: StoreFactory) -> None:
    """A committed file can be read back with the same bytes and fingerprint."""
    store = factory()
    uri = store.uri_for("run", "task", "out")
    fp = store.commit(_write_file(store, uri, b"hello"), uri)
    assert fp.size == 5 and fp.digest.startswith("sha256:")
    assert store.exists(uri)
    with open(store.local_path(uri), "rb") as fh:
        assert fh.read() == b"hello"
    assert store.fingerprint(uri) == fp


def check_commit_folder_round_trip(factory: StoreFactory) -> None:
    """A committed folder keeps its tree; its digest ignores where it lives."""
    store = factory()
    uri = store.uri_for("run", "task", "model")
    fp = store.commit(_write_tree(store, uri), uri)
    assert fp.size == len(b"alpha") + len(b"\x00\x01beta")
    local = store.local_path(uri)
    with open(os.path.join(local, "sub", "b.bin"), "rb") as fh:
        assert fh.read() == b"\x00\x01beta"
    assert store.fingerprint(uri) == fp
    other = store.uri_for("elsewhere", "model")
    assert store.commit(_write_tree(store, other), other).digest == fp.digest


def check_same_bytes_same_digest(factory: StoreFactory) -> None:
    """Content addressing: equal bytes give equal digests, different bytes differ."""
    store = factory()
    uris = [store.uri_for(n) for n in "abc"]
    a = store.commit(_write_file(store, uris[0], b"same"), uris[0])
    b = store.commit(_write_file(store, uris[1], b"same"), uris[1])
    c = store.commit(_write_file(store, uris[2], b"diff"), uris[2])
    assert a.digest == b.digest != c.digest


def check_missing_output_is_an_error(factory: StoreFactory) -> None:
    """Committing an output the component never wrote raises ArtifactError."""
    store = factory()
    path = store.staging_path(store.uri_for("never"))
    try:
        store.commit(path, store.uri_for("never"))
    except ArtifactError as exc:
        assert "did not write" in str(exc)
    else:
        raise AssertionError("commit of a missing output did not raise")
    assert not store.exists(store.uri_for("never"))


def check_fingerprint_of_missing_bytes(factory: StoreFactory) -> None:
    """Fingerprinting a URI with no bytes raises ArtifactNotFoundError."""
    store = factory()
    try:
        store.fingerprint(store.uri_for("nothing", "here"))
    except ArtifactNotFoundError:
        return
    raise AssertionError("fingerprint of missing bytes did not raise")


def check_discard_leaves_nothing(factory: StoreFactory) -> None:
    """A discarded staging path is gone and was never published."""
    store = factory()
    path = _write_file(store, store.uri_for("tmp"), b"x")
    store.discard(path)
    assert not os.path.exists(path)


def check_staging_paths_are_fresh(factory: StoreFactory) -> None:
    """Each staging path is new, so concurrent tasks never share one."""
    store = factory()
    paths = {store.staging_path(store.uri_for("run", "out")) for _ in range(20)}
    assert len(paths) == 20
    assert not any(os.path.exists(p) for p in paths)


def check_staged_output_is_invisible_until_commit(factory: StoreFactory) -> None:
    """Nothing exists at the final URI while an output is only staged."""
    store = factory()
    uri = store.uri_for("run", "task", "data")
    path = _write_file(store, uri, b"half")
    assert not store.exists(uri)
    store.commit(path, uri)
    assert store.exists(uri)


def check_discard_staged_removes_what_a_killed_step_left(factory: StoreFactory) -> None:
    """Staged outputs under a folder (a killed step's) are removed; committed ones and other
    folders' staged outputs stay."""
    store = factory()
    folder = store.uri_for("run", "task.7")
    killed = [_write_file(store, store.uri_for("run", "task.7", "out"), b"half")]
    killed.append(_write_tree(store, store.uri_for("run", "task.7", "model")))
    kept_uri = store.uri_for("run", "task.7", "done")
    store.commit(_write_file(store, kept_uri, b"whole"), kept_uri)
    other = _write_file(store, store.uri_for("run", "task.8", "out"), b"other")
    store.discard_staged(folder)
    assert not any(os.path.lexists(p) for p in killed)
    assert store.exists(kept_uri)
    assert os.path.exists(other)
    store.discard_staged(store.uri_for("no", "such", "folder"))  # nothing there: no error


CHECKS: tuple[Check, ...] = (
    check_commit_file_round_trip,
    check_commit_folder_round_trip,
    check_same_bytes_same_digest,
    check_missing_output_is_an_error,
    check_fingerprint_of_missing_bytes,
    check_discard_leaves_nothing,
    check_staging_paths_are_fresh,
    check_staged_output_is_invisible_until_commit,
    check_discard_staged_removes_what_a_killed_step_left,
)


def artifact_store_checks() -> Iterator[tuple[str, Check]]:
    """``(name, check)`` pairs, to parametrize a test over every check."""
    for check in CHECKS:
        yield check.__name__, check


def check_artifact_store(factory: StoreFactory) -> None:
    """Run every check against stores made by ``factory`` (one fresh store per check).

    Example:
        >>> from conveyor.storage import LocalArtifactStore
        >>> import tempfile
        >>> check_artifact_store(lambda: LocalArtifactStore(tempfile.mkdtemp()))
    """
    for _, check in artifact_store_checks():
        check(factory)
