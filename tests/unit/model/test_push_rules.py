"""The Pusher's refusal rules: what may reach serving, judged on the artifacts' metadata."""

from __future__ import annotations

from conveyor.components.model.pusher import _refusal
from conveyor.types import InfraBlessing, Model, ModelBlessing


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
