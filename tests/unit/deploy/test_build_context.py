"""Build contexts are written whole, only where allowed, and replace only their own kind."""

from __future__ import annotations

import json
import os

import pytest

from conveyor.deploy import ServeSpec, write_context
from conveyor.deploy.folders import check_name, deployment_dir
from conveyor.errors import DeploymentError, InvalidNameError

MANIFEST = {"framework": "sklearn", "framework_version": "1.5.0"}


def _model(tmp_path):
    folder = tmp_path / "model"
    (folder / "transform").mkdir(parents=True)
    (folder / "conveyor_model.json").write_text("{}")
    (folder / "transform" / "transform.json").write_text("{}")
    (folder / "conveyor_push.json").write_text('{"model_fingerprint": "old"}')
    os.chmod(folder / "conveyor_model.json", 0o600)
    return folder


def _write(out, model, **kwargs):
    options = {"model_name": "census", "version": "3", "digest": "sha256:abc",
               "manifest": MANIFEST, "spec": ServeSpec(), "image": "conveyor-census:3"}  # fmt: skip
    options.update(kwargs)
    return write_context(str(out), model_path=str(model), **options)


def test_the_context_holds_the_model_its_recorded_digest_and_pinned_requirements(tmp_path):
    context = _write(tmp_path / "ctx", _model(tmp_path))
    copy = tmp_path / "ctx" / "models" / "census" / "3"
    assert context.model_dir == "models/census/3" and context.command[2] == "models/census/3"
    assert json.loads((copy / "conveyor_push.json").read_text()) == {
        "copied_by": "conveyor deploy", "model_fingerprint": "sha256:abc", "version": 3,
    }  # fmt: skip
    assert (copy / "transform" / "transform.json").is_file()
    assert os.stat(copy / "conveyor_model.json").st_mode & 0o044 == 0o044  # readable by uid 10001
    requirements = (tmp_path / "ctx" / "requirements.txt").read_text().splitlines()
    assert requirements[0].startswith("conveyor-ml==")
    assert requirements[1] == "scikit-learn==1.5.0"
    assert not list(tmp_path.glob("ctx.partial-*"))


def test_a_custom_estimator_gets_a_comment_instead_of_a_guess(tmp_path):
    manifest = {"framework": "custom", "framework_version": "unknown"}
    context = _write(tmp_path / "ctx", _model(tmp_path), manifest=manifest)
    assert context.requirements[1].startswith("# the model's estimator is 'custom'")


def test_a_folder_of_other_files_is_refused_and_left_alone(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(DeploymentError, match="did not write"):
        _write(out, _model(tmp_path))
    assert os.listdir(out) == ["notes.txt"]


def test_a_context_written_before_is_replaced_whole(tmp_path):
    model = _model(tmp_path)
    _write(tmp_path / "ctx", model, version="3")
    _write(tmp_path / "ctx", model, version="4")
    assert os.listdir(tmp_path / "ctx" / "models" / "census") == ["4"]


def test_names_that_are_not_one_path_segment_are_refused(tmp_path):
    model = _model(tmp_path)
    with pytest.raises(DeploymentError, match="not a valid name"):
        _write(tmp_path / "ctx", model, model_name="../census")
    with pytest.raises(InvalidNameError, match="outside"):
        _write(tmp_path / "ctx", model, extra={"../escape.yaml": "x"})
    assert not (tmp_path / "escape.yaml").exists()
    assert not (tmp_path / "ctx").exists() and not list(tmp_path.glob("ctx.*"))
    with pytest.raises(InvalidNameError, match="not a valid name"):
        deployment_dir(str(tmp_path), "..")
    with pytest.raises(InvalidNameError, match="--name 'census-prod-2'"):
        check_name("Census_Prod.2", kubernetes=True)


def test_a_wheel_of_your_own_is_copied_in_and_installed_instead_of_the_release(tmp_path):
    wheel = tmp_path / "conveyor_ml-0.2.0.dev1-py3-none-any.whl"
    wheel.write_bytes(b"PK not really a zip")
    context = _write(tmp_path / "ctx", _model(tmp_path), wheel=str(wheel))
    assert (tmp_path / "ctx" / "wheels" / wheel.name).read_bytes() == wheel.read_bytes()
    assert context.requirements[0] == f"/srv/wheels/{wheel.name}"
    steps = (tmp_path / "ctx" / "Dockerfile").read_text().splitlines()
    assert steps.index("COPY wheels /srv/wheels") < next(
        i for i, line in enumerate(steps) if line.startswith("RUN pip install")
    )
    other = tmp_path / "requests-2.0-py3-none-any.whl"
    other.write_bytes(b"")
    with pytest.raises(DeploymentError, match="not a conveyor-ml wheel"):
        _write(tmp_path / "ctx2", _model(tmp_path / "m2"), wheel=str(other))
    assert not (tmp_path / "ctx2").exists()
