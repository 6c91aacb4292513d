"""An artifact is a handle on bytes at ``path``, with ``metadata``, read and written as text."""

from __future__ import annotations

from pathlib import Path

from conveyor.types import Dataset, Model


def test_artifact_instance_holds_name_uri_path_and_a_copy_of_metadata() -> None:
    meta = {"rows": 3}

    art = Dataset(name="data", uri="mem://x", path="/tmp/x", metadata=meta)
    meta["rows"] = 4

    assert (art.name, art.uri, art.path) == ("data", "mem://x", "/tmp/x")
    assert art.metadata == {"rows": 3}
    assert repr(art) == "Dataset(name='data', uri='mem://x')"


def test_model_framework_comes_from_metadata() -> None:
    assert Model(metadata={"framework": "scikit-learn"}).framework == "scikit-learn"
    assert Model().framework is None


def test_artifact_reads_back_the_text_it_wrote_and_knows_it_is_a_file(tmp_path: Path) -> None:
    m = Model(path=str(tmp_path / "m.txt"))

    m.write_text("weights")

    assert m.read_text() == "weights"
    assert not m.is_dir
    assert Model(path=str(tmp_path)).is_dir
