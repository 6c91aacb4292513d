"""``conveyor deploy --target docker|kubernetes``: the files, and the container's exact command
run outside Docker (no daemon here) against the build context, proving it serves."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from deploy_support import BIN, free_port, push_model, wait_ready

from conveyor.model.saved import manifest_json

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return push_model(tmp_path_factory.mktemp("deploy-files"))


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction; comments and blank lines skipped."""
    instructions = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            instructions.append((word.upper(), rest.strip()))
    return instructions


def _exec_form(argument: str) -> list[str]:
    value = json.loads(argument)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), argument
    return value


def _env(home: Path, **extra: str) -> dict[str, str]:
    """A container-like environment: only the image's settings and what ``docker run -e``
    gives, with this installation first on PATH (the image pip-installs conveyor-ml)."""
    env = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "CONVEYOR_HOME": str(home)}
    return {**env, **extra}


def test_the_docker_context_is_complete_and_its_cmd_serves(cli, project, model, tmp_path):
    port = free_port()
    out = tmp_path / "ctx"
    done = cli("deploy", str(model), "--target", "docker", "-o", str(out), "--port", str(port),
               "--workers", "2", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = json.loads(done.stdout)
    steps = parse_dockerfile((out / "Dockerfile").read_text())
    kinds = [kind for kind, _ in steps]
    assert kinds[0] == "FROM" and kinds[-1] == "CMD"
    assert set(kinds) <= {"FROM", "ENV", "COPY", "RUN", "WORKDIR", "USER", "EXPOSE",
                          "HEALTHCHECK", "CMD"}  # fmt: skip
    args = dict(steps)
    assert args["FROM"] == f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"
    assert args["USER"].split(":")[0] not in ("root", "0") and args["USER"] == "10001:10001"
    assert kinds.index("USER") > max(i for i, k in enumerate(kinds) if k in ("RUN", "COPY"))
    assert args["EXPOSE"] == str(port)
    copies = [a.split() for k, a in steps if k == "COPY"]
    for source, _ in copies:
        assert (out / source).exists(), source  # every COPY source is in the context
    workdir = Path(args["WORKDIR"])
    cmd = _exec_form(args["CMD"])
    assert cmd == written["command"]
    assert cmd[:3] == ["conveyor", "serve", "models/toy/1700000000"]
    # the model path of the CMD, relative to WORKDIR, is where a COPY put the model
    assert any(workdir / cmd[2] == Path(dest) / Path(cmd[2]).relative_to(src)
               for src, dest in copies if cmd[2].startswith(src))  # fmt: skip
    assert (out / cmd[2] / "conveyor_model.json").is_file()
    assert "--insecure" not in cmd and "--token" not in cmd  # the token comes at run time
    health = args["HEALTHCHECK"].split(" CMD ", 1)
    assert "--interval=" in health[0]
    health_cmd = _exec_form(health[1])
    assert f"127.0.0.1:{port}/healthz" in health_cmd[-1]
    requirements = (out / "requirements.txt").read_text().splitlines()
    version = manifest_json(str(model))["framework_version"]
    assert requirements[:2] == ["conveyor-ml==0.1.0", f"scikit-learn=={version}"]
    assert "kubernetes/" in (out / ".dockerignore").read_text().split()

    # without a token the exact CMD refuses to bind 0.0.0.0
    refused = subprocess.run(cmd, cwd=out, env=_env(tmp_path / "h"), capture_output=True,
                             text=True, timeout=60)  # fmt: skip
    assert refused.returncode == 2 and "--token" in refused.stderr

    proc = subprocess.Popen(
        cmd, cwd=out, env=_env(tmp_path / "h", CONVEYOR_SERVE_TOKEN="tok"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, url)
        probe = subprocess.run(health_cmd, env=_env(tmp_path / "h"), timeout=30)
        assert probe.returncode == 0
        smoke = cli("smoke-test", url, "--json", env={"CONVEYOR_SERVE_TOKEN": "tok"})
        assert smoke.returncode == 0, smoke.stdout
        report = json.loads(smoke.stdout)
        assert (report["model"], report["version"], report["rows"]) == ("toy", "1700000000", 5)
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, output

    # the copy keeps the recorded digest: a changed file is refused in the container too
    manifest = out / cmd[2] / "conveyor_model.json"
    manifest.write_text(manifest.read_text().replace('"label": "y"', '"label": "z"'))
    changed = subprocess.run(cmd, cwd=out, capture_output=True, text=True, timeout=60,
                             env=_env(tmp_path / "h", CONVEYOR_SERVE_TOKEN="tok"))  # fmt: skip
    assert changed.returncode == 1 and "Refusing to serve" in changed.stderr


def test_tokens_stay_out_of_files_and_insecure_is_explicit(cli, project, model, tmp_path):
    with_token = cli("deploy", str(model), "--target", "docker", "-o", str(tmp_path / "a"),
                     env={"CONVEYOR_SERVE_TOKEN": "s3cret"})  # fmt: skip
    assert with_token.returncode == 2 and "not written into files" in with_token.stderr
    assert not (tmp_path / "a").exists()
    host = cli("deploy", str(model), "--target", "docker", "--host", "0.0.0.0")
    assert host.returncode == 2 and "--target local" in host.stderr
    insecure = cli("deploy", str(model), "--target", "docker", "--insecure", "--json")
    assert insecure.returncode == 0, insecure.stderr
    context = json.loads(insecure.stdout)
    assert context["path"] == str(project / ".conveyor" / "deployments" / "toy" / "build")
    assert context["command"][-1] == "--insecure"
    assert "WITHOUT a token" in (Path(context["path"]) / "Dockerfile").read_text()


def test_kubernetes_manifests_run_the_image_of_the_context(cli, project, model, tmp_path):
    bad = cli("deploy", str(model), "--target", "kubernetes", "--name", "Toy_Prod")
    assert bad.returncode == 2 and "--name 'toy-prod'" in bad.stderr
    out = tmp_path / "k8s"
    done = cli("deploy", str(model), "--target", "kubernetes", "--name", "toy-prod", "-o",
               str(out), "--replicas", "3", "--memory", "2Gi", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = json.loads(done.stdout)
    assert written["files"] == ["Dockerfile", "kubernetes/deployment.yaml",
                                "kubernetes/inferenceservice.yaml", "requirements.txt"]  # fmt: skip
    cmd = _exec_form(dict(parse_dockerfile((out / "Dockerfile").read_text()))["CMD"])
    deployment, service = yaml.safe_load_all((out / "kubernetes/deployment.yaml").read_text())
    isvc = yaml.safe_load((out / "kubernetes/inferenceservice.yaml").read_text())
    for container in (deployment["spec"]["template"]["spec"]["containers"][0],
                      isvc["spec"]["predictor"]["containers"][0]):  # fmt: skip
        assert container["image"] == "conveyor-toy-prod:1700000000"
        assert container["command"] == cmd  # the same conveyor serve as the image's CMD
        secret = container["env"][0]["valueFrom"]["secretKeyRef"]
        assert secret == {"name": "toy-prod-token", "key": "token"}
        assert container["resources"]["limits"] == {"memory": "2Gi"}
    assert deployment["spec"]["replicas"] == 3 and service["metadata"]["name"] == "toy-prod"
    header = (out / "kubernetes/deployment.yaml").read_text().splitlines()[1]
    assert shlex.split(header.split(": ", 1)[1])[:4] == ["kubectl", "create", "secret",
                                                         "generic"]  # fmt: skip
