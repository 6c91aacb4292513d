"""``conveyor deploy``: serve a model in the background, or write Docker / Kubernetes files.

``conveyor deploy MODEL`` is ``conveyor deploy start MODEL``; ``status``, ``stop`` and ``logs``
manage the local deployments. See docs/deploy.md.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from conveyor.cli._common import _console, _echo_json, _errors, _settings

__all__ = ["deploy"]

TOKEN_ENV = "CONVEYOR_SERVE_TOKEN"


class _DeployGroup(click.Group):
    """``conveyor deploy MODEL ...`` runs ``start``: a first argument that is not a
    subcommand is the model."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["start", *args]
        return super().parse_args(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A word that names no subcommand is ``start``'s MODEL (for help and doc tools)."""
        return super().get_command(ctx, cmd_name) or self.commands.get("start")


@click.group(cls=_DeployGroup)
def deploy() -> None:
    """Deploy a model: in the background here (local), or as files for Docker or Kubernetes.

    conveyor deploy MODEL [--target local|docker|kubernetes] is short for
    conveyor deploy start MODEL; status, stop and logs manage local deployments.
    """


@deploy.command(name="start", context_settings={"ignore_unknown_options": True})
@click.argument("model")
@click.argument("serve_args", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--target", type=click.Choice(["local", "docker", "kubernetes"]), default="local",
    show_default=True,
    help="local: conveyor serve in the background; docker: a build context; kubernetes: "
    "the build context plus Deployment, Service and KServe InferenceService YAML.",
)  # fmt: skip
@click.option("--name", default=None, help="The deployment's name [default: the model's name].")
@click.option("--host", default=None, help="Address to bind (local only) [default: 127.0.0.1].")
@click.option(
    "--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
    help="The server's port (local: 0 picks a free one).",
)  # fmt: skip
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--max-body-bytes", default=10 * 1024 * 1024, show_default=True, type=click.IntRange(1),
    help="Largest request body; larger ones get 413.",
)  # fmt: skip
@click.option(
    "--token", default=None, envvar=TOKEN_ENV,
    help=f"Bearer token (local only; also read from {TOKEN_ENV}). Containers read it from "
    f"{TOKEN_ENV} at run time: it is never written into files.",
)  # fmt: skip
@click.option("--insecure", is_flag=True, help="Serve off loopback without a token.")
@click.option(
    "--wait", "wait_seconds", default=60.0, show_default=True, type=click.FloatRange(0),
    help="Seconds the local server has to become ready before it is stopped and reported.",
)  # fmt: skip
@click.option(
    "--output", "-o", default=None, type=click.Path(file_okay=False),
    help="Folder to write (docker, kubernetes) [default: <home>/deployments/<name>/build].",
)  # fmt: skip
@click.option(
    "--image", default=None, help="Image tag (kubernetes) [default: conveyor-<name>:<version>]."
)  # fmt: skip
@click.option(
    "--wheel", default=None, type=click.Path(dir_okay=False),
    help="A conveyor-ml wheel to install in the image instead of the released version "
    "(docker, kubernetes).",
)  # fmt: skip
@click.option("--replicas", default=1, show_default=True, type=click.IntRange(1))
@click.option("--cpu", default="500m", show_default=True, help="CPU requested per pod.")
@click.option(
    "--memory", default="1Gi", show_default=True, help="Memory requested, and the limit, per pod."
)  # fmt: skip
@click.option(
    "--token-secret", default=None,
    help="Kubernetes Secret holding the token under key 'token' [default: <name>-token].",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_errors
def start(model: str, serve_args: tuple[str, ...], target: str, name: str | None,
          host: str | None, port: int, workers: int, max_body_bytes: int, token: str | None,
          insecure: bool, wait_seconds: float, output: str | None, image: str | None,
          wheel: str | None, replicas: int, cpu: str, memory: str, token_secret: str | None,
          as_json: bool) -> None:  # fmt: skip
    """Deploy MODEL (a model folder, a pushed version or models:/NAME@ALIAS) to a target.

    local starts conveyor serve in the background, waits for /readyz and records a PID file
    and a log under <home>/deployments/NAME/. docker writes a build context (Dockerfile,
    requirements, the model) whose CMD is the same conveyor serve; kubernetes adds
    kubernetes/deployment.yaml and kubernetes/inferenceservice.yaml for that image.
    Other conveyor serve options (--poll-seconds, --canary, --log-predictions...) are
    passed to the local server as given.
    """
    from conveyor.serve.source import open_source

    if token is not None and not token.strip():
        raise click.UsageError(f"--token (or {TOKEN_ENV}) is empty; give a secret string")
    settings = _settings()
    metadata_url = settings.metadata_url if model.startswith("models:/") else None
    source = open_source(model, metadata_url=metadata_url)
    name = name or source.name
    if target == "local":
        _check_local_only(image, token_secret, output, wheel, replicas, cpu, memory)
        _check_serve_args(model, serve_args)
        _start_local(settings.home, model, name, host or "127.0.0.1", port, workers,
                     max_body_bytes, token, insecure, wait_seconds, as_json,
                     serve_args)  # fmt: skip
        return
    if serve_args:
        raise click.UsageError(
            f"Got unexpected {' '.join(serve_args)!r}: other conveyor serve options are for "
            "--target local (the container serves its copy of the model with the command "
            "in its Dockerfile)"
        )
    if host is not None:
        raise click.UsageError("--host is for --target local: a container binds 0.0.0.0")
    if token is not None:
        raise click.UsageError(
            f"A token is not written into files: unset {TOKEN_ENV} / drop --token, and give "
            f"it to the container at run time (docker run -e {TOKEN_ENV}=...; a Kubernetes "
            "Secret, see --token-secret), or pass --insecure to serve without one"
        )
    from conveyor.deploy.docker import ServeSpec
    from conveyor.deploy.folders import check_name, deployment_dir
    from conveyor.serve.source import check_digest

    check_name(name, kubernetes=target == "kubernetes")
    digest = check_digest(source)
    spec = ServeSpec(port=port or 8080, workers=workers, max_body_bytes=max_body_bytes,
                     insecure=insecure)  # fmt: skip
    out = output or os.path.join(deployment_dir(settings.home, name), "build")
    image = image or f"conveyor-{name.lower()}:{source.version or 'latest'}"
    context = _write_files(target, out, source, digest, spec, name, image, replicas, cpu,
                           memory, token_secret, wheel)  # fmt: skip
    if as_json:
        _echo_json({"target": target, "name": name, **context})
        return
    out_console = _console()
    out_console.print(f"Wrote the {target} deployment of {source.name!r} to {context['path']}")
    for line in _next_steps(target, context, spec):
        out_console.print(f"  {line}", soft_wrap=True)


def _check_local_only(
    image: str | None, token_secret: str | None, output: str | None, wheel: str | None,
    replicas: int, cpu: str, memory: str,
) -> None:  # fmt: skip
    given = [opt for opt, value in (("--image", image), ("--token-secret", token_secret),
             ("--output", output), ("--wheel", wheel)) if value is not None]  # fmt: skip
    given += [opt for opt, value, default in (("--replicas", replicas, 1), ("--cpu", cpu, "500m"),
              ("--memory", memory, "1Gi")) if value != default]  # fmt: skip
    if given:
        raise click.UsageError(f"{', '.join(given)}: only for --target docker or kubernetes")


def _check_serve_args(model: str, serve_args: tuple[str, ...]) -> None:
    """Refuse options ``conveyor serve`` would refuse, before a server is started."""
    if not serve_args:
        return
    from conveyor.cli.serve import serve

    try:
        serve.make_context("conveyor serve", [model, *serve_args])
    except click.ClickException as exc:
        raise click.UsageError(f"conveyor serve options {' '.join(serve_args)!r}: {exc}") from None


def _start_local(home: str, model: str, name: str, host: str, port: int, workers: int,
                 max_body_bytes: int, token: str | None, insecure: bool, wait_seconds: float,
                 as_json: bool, serve_args: tuple[str, ...]) -> None:  # fmt: skip
    from conveyor.deploy.local import start_local

    options: tuple[str, ...] = ("--workers", str(workers), "--max-body-bytes", str(max_body_bytes))
    if insecure:
        options += ("--insecure",)
    options += serve_args
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}  # the token: --token only
    status = start_local(home, model, name=name, host=host, port=port, serve_options=options,
                         token=token, wait_seconds=wait_seconds, env=env)  # fmt: skip
    if as_json:
        _echo_json(status.to_dict())
        return
    _console().print(
        f"Deployed {name!r} (pid {status.pid}): {status.url}, ready. Log: {status.log}\n"
        f"  conveyor smoke-test {status.url}    conveyor deploy stop {name}",
        soft_wrap=True,
    )


def _write_files(target: str, out: str, source: Any, digest: str, spec: Any, name: str,
                 image: str, replicas: int, cpu: str, memory: str,
                 token_secret: str | None, wheel: str | None) -> dict[str, Any]:  # fmt: skip
    from conveyor.deploy.docker import serve_command, write_context
    from conveyor.model.saved import manifest_json

    extra: dict[str, str] = {}
    version = source.version
    model_dir = f"models/{source.name}/{version or 'unversioned'}"
    if target == "kubernetes":
        from conveyor.deploy.kubernetes import (
            DEPLOYMENT_FILE,
            INFERENCE_SERVICE_FILE,
            KubernetesSpec,
            deployment_yaml,
            inference_service_yaml,
        )

        secret = None if spec.insecure else token_secret or f"{name}-token"
        k8s = KubernetesSpec(name=name, image=image, command=serve_command(model_dir, spec),
                             port=spec.port, replicas=replicas, cpu=cpu, memory=memory,
                             token_secret=secret)  # fmt: skip
        extra = {
            DEPLOYMENT_FILE: deployment_yaml(k8s),
            INFERENCE_SERVICE_FILE: inference_service_yaml(k8s),
        }
    context = write_context(out, model_path=source.path, model_name=source.name,
                            version=version, digest=digest, manifest=manifest_json(source.path),
                            spec=spec, image=image, extra=extra, wheel=wheel)  # fmt: skip
    wheels = [] if wheel is None else [f"wheels/{os.path.basename(wheel)}"]
    files = sorted(["Dockerfile", "requirements.txt", *extra, *wheels])
    return {**context.to_dict(), "files": files}


def _next_steps(target: str, context: dict[str, Any], spec: Any) -> list[str]:
    path, image = context["path"], context["image"]
    steps = [f"docker build -t {image} {path}"]
    if target == "docker":
        token = "" if spec.insecure else f" -e {TOKEN_ENV}=<secret>"
        steps.append(f"docker run --rm -p {spec.port}:{spec.port}{token} {image}")
    else:
        steps.append(f"kubectl apply -f {os.path.join(path, 'kubernetes', 'deployment.yaml')}")
        steps.append(
            f"or, with KServe: kubectl apply -f "
            f"{os.path.join(path, 'kubernetes', 'inferenceservice.yaml')}"
        )
    return steps


@deploy.command(name="status")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_errors
def status(name: str | None, as_json: bool) -> None:
    """List the local deployments (or NAME): running (and ready), stopped, or stale."""
    from conveyor.deploy.local import local_deployments, local_status

    home = _settings().home
    found = [local_status(home, name)] if name else local_deployments(home)
    if as_json:
        _echo_json([s.to_dict() for s in found] if name is None else found[0].to_dict())
        return
    if not found:
        click.echo("No local deployments. Start one with: conveyor deploy MODEL")
    for s in found:
        state = s.state + (" (ready)" if s.ready else " (not ready)" if s.ready is False else "")
        detail = f"  {s.reason}" if s.reason else ""
        pid = f"pid {s.pid}" if s.pid is not None else "no pid"
        click.echo(f"{s.name}  {state}  {pid}  {s.url}  {s.model}{detail}")


@deploy.command(name="stop")
@click.argument("name")
@click.option(
    "--timeout", default=30.0, show_default=True, type=click.FloatRange(0),
    help="Seconds to wait after SIGTERM before SIGKILL.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_errors
def stop(name: str, timeout: float, as_json: bool) -> None:
    """Stop local deployment NAME: SIGTERM, wait for it to finish its requests, report."""
    from conveyor.deploy.local import stop_local

    result = stop_local(_settings().home, name, timeout=timeout)
    if as_json:
        _echo_json(result.to_dict())
        return
    click.echo(f"{name}: {result.outcome} ({result.detail}, {result.seconds:.1f} s)")


@deploy.command(name="logs")
@click.argument("name")
@click.option("--lines", "-n", default=50, show_default=True, type=click.IntRange(0))
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the server exits.")
@_errors
def logs(name: str, lines: int, follow: bool) -> None:
    """Print the end of local deployment NAME's server log (--follow: and what comes next)."""
    from conveyor.deploy.local import follow_log, log_file, tail

    home = _settings().home
    log = log_file(home, name)
    end = os.path.getsize(log) if os.path.exists(log) else 0
    sys.stdout.write(tail(log, lines, end=end))  # then --follow goes on from that byte
    sys.stdout.flush()
    if follow:
        try:
            for chunk in follow_log(home, name, start=end):
                sys.stdout.write(chunk)
                sys.stdout.flush()
        except KeyboardInterrupt:
            pass
