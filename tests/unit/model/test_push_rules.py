"""The Pusher's refusal rules: what may reach serving, judged on the artifacts' metadata."""

from __future__ import annotations

import json

import fsspec

from conveyor.components.model.pusher import _refusal, pusher
from conveyor.types import InfraBlessing, Model, ModelBlessing, PushedModel


def _model(fingerprint: str) -> Model:
    model = Model(name="model", uri="/m", path="/m")
    model.fingerprint = fingerprint
    return model


def _blessing(blessed: bool, fingerprint: str = "sha256:a", reason: str = "BLESSED"):
    return ModelBlessing(
        metadata={"blessed": blessed, "reason": reason, "model_fingerprint": fingerprint}
    )


def _infra(blessed: bool, fingerprint: str = "sha256:a", reason: str = "BLESSED"):
    return InfraBlessing(
        metadata={"blessed": blessed, "reason": reason, "model_fingerprint": fingerprint}
    )


def test_a_blessed_and_validated_model_may_be_pushed():
    assert _refusal(_model("sha256:a"), _blessing(True), _infra(True)) is None
    assert _refusal(_model("sha256:a"), _blessing(True), None) is None


def test_an_unblessed_model_is_refused_with_the_evaluators_reason():
    refusal = _refusal(_model("sha256:a"), _blessing(False, reason="NOT_BLESSED_THRESHOLDS"), None)
    assert refusal == "model not blessed (NOT_BLESSED_THRESHOLDS)"


def test_a_failed_infra_validation_is_refused_with_its_reason():
    refusal = _refusal(_model("sha256:a"), _blessing(True), _infra(False, reason="LOAD_FAILED"))
    assert refusal == "infra validation failed (LOAD_FAILED)"


def test_blessings_of_another_model_are_refused():
    other = _refusal(_model("sha256:a"), _blessing(True, fingerprint="sha256:b"), None)
    assert other is not None and "judged another model" in other
    infra_other = _refusal(
        _model("sha256:a"), _blessing(True), _infra(True, fingerprint="sha256:b")
    )
    assert infra_other is not None and "checked another model" in infra_other


def _push(tmp_path, destination: str) -> PushedModel:
    model_dir = tmp_path / "model"
    (model_dir / "transform").mkdir(parents=True)
    (model_dir / "conveyor_model.json").write_text('{"framework": "sklearn"}')
    (model_dir / "transform" / "transform.json").write_text("{}")
    model = _model("sha256:a")
    model.path = str(model_dir)
    out = PushedModel(name="pushed_model", path=str(tmp_path / "pushed"))
    assert pusher.python_func(
        model=model,
        model_blessing=_blessing(True),
        pushed_model=out,
        push_destination=destination,
        infra_blessing=_infra(True),
    )
    return out


def test_a_push_to_a_local_folder_is_a_complete_versioned_copy(tmp_path):
    out = _push(tmp_path, str(tmp_path / "serving"))
    version = tmp_path / "serving" / out.metadata["pushed_version"]
    assert str(version) == out.metadata["pushed_destination"]
    assert (version / "transform" / "transform.json").exists()
    assert json.loads((version / "conveyor_push.json").read_text())["model_fingerprint"] == (
        "sha256:a"
    )
    assert [p.name for p in (tmp_path / "serving").iterdir()] == [version.name]  # no staging


def test_a_push_to_an_fsspec_url_uploads_every_file_and_the_marker_last(tmp_path):
    fs = fsspec.filesystem("memory")
    out = _push(tmp_path, "memory://serving/census")
    target = out.metadata["pushed_destination"]
    assert target.startswith("memory://") and target.endswith(out.metadata["pushed_version"])
    root = target.removeprefix("memory://")
    assert fs.exists(f"{root}/transform/transform.json")
    assert json.loads(fs.cat(f"{root}/conveyor_push.json"))["version"] == int(
        out.metadata["pushed_version"]
    )
    fs.rm("/serving", recursive=True)
