"""The ``docker`` target: a build context whose command is the same ``conveyor serve``.

The context holds::

    Dockerfile          python:<this Python>-slim, the requirements, a non-root user (uid
                        10001), the model, a HEALTHCHECK on /healthz, CMD conveyor serve
    requirements.txt    conveyor-ml and the model's framework, pinned to the versions that
                        saved it (from its manifest)
    models/<name>/<version>/   the model's files and a conveyor_push.json with the digest
                        recorded for them, so the server in the container checks them too
    .dockerignore       keeps the Kubernetes manifests (and this tool's marker) out of the image

The container binds 0.0.0.0, which ``conveyor serve`` allows only with a token: the image
holds none. It reads ``CONVEYOR_SERVE_TOKEN`` from its environment (``docker run -e``, a
Kubernetes Secret), and refuses to start without it, unless the context was written with
``insecure=True`` (``--insecure`` in the CMD: anyone who reaches the port may predict).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import stat
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from conveyor._internal.names import name_problem
from conveyor.deploy.folders import inside
from conveyor.errors import DeploymentError

__all__ = [
    "CONTAINER_USER",
    "MARKER_FILE",
    "BuildContext",
    "ServeSpec",
    "requirements",
    "serve_command",
    "write_context",
]

CONTAINER_USER = 10001
"""The uid and gid the server runs as in the container (not root)."""
MARKER_FILE = ".conveyor-deploy.json"
"""Marks a folder this module wrote, which it may replace."""
MODELS_DIR = "models"
WHEELS_DIR = "wheels"
WORKDIR = "/srv"
_PACKAGES = {"sklearn": "scikit-learn", "xgboost": "xgboost-cpu", "lightgbm": "lightgbm"}
_PUSH_MARKER = "conveyor_push.json"  # read by conveyor.serve.source (its PUSH_MARKER)


@dataclass(frozen=True)
class ServeSpec:
    """How the container runs ``conveyor serve``: port, worker processes, body limit, and
    whether it serves without a token."""

    port: int = 8080
    workers: int = 1
    max_body_bytes: int = 10 * 1024 * 1024
    insecure: bool = False


def serve_command(model_dir: str, spec: ServeSpec) -> list[str]:
    """The command the container runs (``model_dir`` relative to the working directory).

    Example:
        >>> serve_command("models/census/3", ServeSpec())[:5]
        ['conveyor', 'serve', 'models/census/3', '--host', '0.0.0.0']
    """
    command = [
        "conveyor", "serve", model_dir, "--host", "0.0.0.0", "--port", str(spec.port),
        "--workers", str(spec.workers), "--max-body-bytes", str(spec.max_body_bytes),
    ]  # fmt: skip
    return [*command, "--insecure"] if spec.insecure else command


def health_command(port: int) -> list[str]:
    """The HEALTHCHECK command: exits non-zero unless ``/healthz`` answers 200."""
    probe = (
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{port}/healthz', timeout=4)"
    )
    return ["python", "-c", probe]


def requirements(manifest: Mapping[str, Any], *, conveyor: str | None = None) -> list[str]:
    """The requirement lines: ``conveyor-ml`` at this installation's version (or the
    requirement ``conveyor``, a wheel's path) and the model's framework at the version its
    manifest records (a custom estimator's packages are not known: a comment says to add
    them)."""
    lines = [conveyor or f"conveyor-ml=={importlib.metadata.version('conveyor-ml')}"]
    framework = str(manifest.get("framework", ""))
    version = str(manifest.get("framework_version", "unknown"))
    package = _PACKAGES.get(framework)
    if package is None:
        lines.append(
            f"# the model's estimator is {framework or 'unknown'!r}: add the packages its "
            "pickle needs"
        )
    elif version == "unknown":
        lines.append(f"{package}  # the version that saved the model was not recorded")
    else:
        lines.append(f"{package}=={version}")
    return lines


@dataclass(frozen=True)
class BuildContext:
    """A written build context: its folder, the model's folder in it (relative), the
    container's command, the suggested image tag and the requirement lines."""

    path: str
    model_dir: str
    command: list[str]
    image: str
    requirements: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def write_context(
    out: str,
    *,
    model_path: str,
    model_name: str,
    version: str | None,
    digest: str,
    manifest: Mapping[str, Any],
    spec: ServeSpec,
    image: str,
    extra: Mapping[str, str] | None = None,
    wheel: str | None = None,
) -> BuildContext:
    """Write the build context for the model folder ``model_path`` to ``out``, replacing a
    context written there before (never another folder's content).

    Args:
        out: the folder to write (created; its parent must exist or is created).
        model_path: the model folder to copy (its digest already checked).
        model_name: the name the server serves it under.
        version: its version (None: unversioned).
        digest: the content digest recorded for the files, written into the copy.
        manifest: the model's manifest (``conveyor_model.json``).
        spec: how the container serves it.
        image: the image tag the comments suggest.
        extra: more files to write, by path relative to ``out`` (the Kubernetes manifests).
        wheel: a conveyor-ml wheel to install instead of the released version (a build of
            your own), copied into the context.

    Raises:
        DeploymentError: ``out`` holds files this module did not write, or cannot be written.
        InvalidNameError: a file of ``extra`` would land outside ``out``.
    """
    out = os.path.abspath(out)
    _check_replaceable(out)
    wheel_name = None if wheel is None else _check_wheel(wheel)
    for part, kind in ((model_name, "model name"), (version or "unversioned", "version")):
        problem = name_problem(kind, part)
        if problem is not None:
            raise DeploymentError(f"Cannot lay out the model in a build context: {problem}")
    model_dir = f"{MODELS_DIR}/{model_name}/{version or 'unversioned'}"
    command = serve_command(model_dir, spec)
    staging = f"{out}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        os.makedirs(staging)
        target = os.path.join(staging, *model_dir.split("/"))
        shutil.copytree(model_path, target, ignore=shutil.ignore_patterns(_PUSH_MARKER))
        _readable(target)
        record: dict[str, Any] = {"model_fingerprint": digest, "copied_by": "conveyor deploy"}
        if version is not None:
            record["version"] = int(version) if version.isdigit() else version
        _write(os.path.join(target, _PUSH_MARKER), json.dumps(record, indent=2, sort_keys=True))
        conveyor = None
        if wheel is not None and wheel_name is not None:
            os.makedirs(os.path.join(staging, WHEELS_DIR))
            shutil.copyfile(wheel, os.path.join(staging, WHEELS_DIR, wheel_name))
            conveyor = f"{WORKDIR}/{WHEELS_DIR}/{wheel_name}"
        lines = requirements(manifest, conveyor=conveyor)
        _write(os.path.join(staging, "requirements.txt"), "\n".join(lines) + "\n")
        _write(os.path.join(staging, "Dockerfile"),
               dockerfile(command, spec, image=image, model_dir=model_dir,
                          wheels=wheel is not None))  # fmt: skip
        _write(os.path.join(staging, ".dockerignore"), f"{MARKER_FILE}\nkubernetes/\n")
        for relative, text in (extra or {}).items():
            path = inside(staging, os.path.join(staging, relative))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _write(path, text)
        _write(os.path.join(staging, MARKER_FILE),
               json.dumps({"model": model_dir, "image": image}, indent=2))  # fmt: skip
        _swap(staging, out)
    except OSError as exc:
        raise DeploymentError(f"Cannot write the build context {out!r}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone after the swap; a failure's leftovers
    return BuildContext(out, model_dir, command, image, lines)


def dockerfile(
    command: list[str], spec: ServeSpec, *, image: str, model_dir: str, wheels: bool = False
) -> str:
    """The Dockerfile's text (``wheels``: the context has a ``wheels/`` folder to install
    from)."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    token = "" if spec.insecure else " -e CONVEYOR_SERVE_TOKEN=<secret>"
    user = CONTAINER_USER
    lines = [
        f"# The model {model_dir.split('/')[1]!r} served by conveyor serve (written by conveyor "
        "deploy --target docker).",
        f"#   docker build -t {image} .",
        f"#   docker run --rm -p {spec.port}:{spec.port}{token} {image}",
        "# Binding 0.0.0.0 needs a token: the server reads CONVEYOR_SERVE_TOKEN and refuses to"
        if not spec.insecure
        else "# Served WITHOUT a token (--insecure): anyone who reaches the port may predict.",
        "# start without it; the image holds none." if not spec.insecure else "#",
        f"FROM python:{python}-slim",
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 "
        "PIP_DISABLE_PIP_VERSION_CHECK=1 CONVEYOR_HOME=/tmp/conveyor",
        f"COPY requirements.txt {WORKDIR}/requirements.txt",
        *([f"COPY {WHEELS_DIR} {WORKDIR}/{WHEELS_DIR}"] if wheels else []),
        f"RUN pip install --no-cache-dir -r {WORKDIR}/requirements.txt",
        f"RUN groupadd --gid {user} conveyor && useradd --uid {user} --gid {user} "
        "--no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin conveyor",
        f"COPY {MODELS_DIR} {WORKDIR}/{MODELS_DIR}",
        f"WORKDIR {WORKDIR}",
        f"USER {user}:{user}",
        f"EXPOSE {spec.port}",
        "HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 "
        f"CMD {json.dumps(health_command(spec.port))}",
        f"CMD {json.dumps(command)}",
    ]
    return "\n".join(lines) + "\n"


def _check_wheel(path: str) -> str:
    name = os.path.basename(path)
    if not os.path.isfile(path) or not re.fullmatch(r"conveyor_ml-[\w.!+-]+\.whl", name):
        raise DeploymentError(
            f"--wheel {path!r} is not a conveyor-ml wheel file (conveyor_ml-VERSION-...whl); "
            "build one with: pip wheel --no-deps -w dist ."
        )
    return name


def _check_replaceable(out: str) -> None:
    ours = os.path.isfile(os.path.join(out, MARKER_FILE))
    if os.path.isfile(out) or (os.path.isdir(out) and os.listdir(out) and not ours):
        raise DeploymentError(
            f"{out!r} holds files conveyor deploy did not write; give an empty or new folder "
            "with --output"
        )


def _swap(staging: str, out: str) -> None:
    os.makedirs(os.path.dirname(out), exist_ok=True)
    if not os.path.exists(out):
        os.rename(staging, out)
        return
    old = f"{out}.old-{os.getpid()}"
    os.rename(out, old)
    os.rename(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def _readable(folder: str) -> None:
    """Files readable (and folders enterable) by the container's user, whatever umask."""
    for root, _, files in os.walk(folder):
        os.chmod(root, os.stat(root).st_mode | 0o755)
        for name in files:
            path = os.path.join(root, name)
            os.chmod(path, os.stat(path).st_mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
