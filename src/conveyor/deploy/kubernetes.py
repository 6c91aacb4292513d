"""The ``kubernetes`` target: a Deployment and a Service, and a KServe ``InferenceService``.

Both run the image built from the ``docker`` target's context with the same command. The
bearer token comes from a Secret (``valueFrom.secretKeyRef``, key ``token``) that the
manifests reference and never contain; create it with ``kubectl create secret generic``.
Probes: readiness on ``/readyz`` (the model is loaded), liveness and start-up on
``/healthz``. The pod runs as the image's non-root user on a read-only root file system,
with ``/tmp`` as scratch space.

API versions written (pinned by the tests): ``apps/v1`` Deployment, ``v1`` Service,
``serving.kserve.io/v1beta1`` InferenceService (a custom predictor: a container named
``kserve-container``, raw deployment mode, no Knative).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from conveyor.deploy.docker import CONTAINER_USER

__all__ = [
    "DEPLOYMENT_FILE",
    "INFERENCE_SERVICE_FILE",
    "KubernetesSpec",
    "deployment_yaml",
    "inference_service_yaml",
]

DEPLOYMENT_FILE = "kubernetes/deployment.yaml"
INFERENCE_SERVICE_FILE = "kubernetes/inferenceservice.yaml"
TOKEN_ENV = "CONVEYOR_SERVE_TOKEN"
KSERVE_CONTAINER = "kserve-container"


@dataclass(frozen=True)
class KubernetesSpec:
    """What the manifests say: the resources' name, the image and the command it runs,
    the container port, the replicas, the CPU and memory requested (memory is also the
    limit), and the Secret holding the token (None: served without one)."""

    name: str
    image: str
    command: list[str]
    port: int = 8080
    replicas: int = 1
    cpu: str = "500m"
    memory: str = "1Gi"
    token_secret: str | None = None


def _labels(spec: KubernetesSpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": spec.name, "app.kubernetes.io/managed-by": "conveyor"}


def _container(spec: KubernetesSpec, name: str, port: Any) -> dict[str, Any]:
    """The server's container; ``port`` is what the probes name (a number or a port name)."""
    container: dict[str, Any] = {
        "name": name,
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": list(spec.command),
    }
    if spec.token_secret is not None:
        container["env"] = [
            {
                "name": TOKEN_ENV,
                "valueFrom": {"secretKeyRef": {"name": spec.token_secret, "key": "token"}},
            }
        ]
    container.update(
        {
            "readinessProbe": {
                "httpGet": {"path": "/readyz", "port": port},
                "periodSeconds": 5,
                "failureThreshold": 3,
            },
            "livenessProbe": {
                "httpGet": {"path": "/healthz", "port": port},
                "periodSeconds": 10,
                "failureThreshold": 3,
            },
            "startupProbe": {
                "httpGet": {"path": "/healthz", "port": port},
                "periodSeconds": 2,
                "failureThreshold": 60,
            },
            "resources": {
                "requests": {"cpu": spec.cpu, "memory": spec.memory},
                "limits": {"memory": spec.memory},
            },
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        }
    )
    return container


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": CONTAINER_USER,
        "runAsGroup": CONTAINER_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _header(spec: KubernetesSpec) -> str:
    secret = (
        f"# The token: kubectl create secret generic {spec.token_secret} "
        "--from-literal=token=<secret>\n"
        if spec.token_secret is not None
        else "# Served WITHOUT a token (--insecure): anyone who reaches the port may predict.\n"
    )
    return (
        "# Written by conveyor deploy --target kubernetes; the image is built from ../Dockerfile."
        f"\n{secret}"
    )


def deployment_yaml(spec: KubernetesSpec) -> str:
    """A Deployment and a ClusterIP Service (port 80 to the container's ``http`` port).

    Example:
        >>> text = deployment_yaml(KubernetesSpec("census", "conveyor-census:3", ["conveyor"]))
        >>> [doc["kind"] for doc in yaml.safe_load_all(text)]
        ['Deployment', 'Service']
    """
    labels = _labels(spec)
    container = _container(spec, "server", "http")
    container["ports"] = [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": spec.name, "labels": labels},
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": spec.name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": _pod_security(),
                    "terminationGracePeriodSeconds": 30,
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": spec.name, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": spec.name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    text: str = yaml.safe_dump_all([deployment, service], sort_keys=False)
    return _header(spec) + text


def inference_service_yaml(spec: KubernetesSpec) -> str:
    """A KServe InferenceService with the server as a custom predictor container.

    Example:
        >>> text = inference_service_yaml(KubernetesSpec("census", "conveyor-census:3", ["x"]))
        >>> yaml.safe_load(text)["spec"]["predictor"]["containers"][0]["name"]
        'kserve-container'
    """
    container = _container(spec, KSERVE_CONTAINER, spec.port)
    container["ports"] = [{"containerPort": spec.port, "protocol": "TCP"}]
    service = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": spec.name,
            "labels": _labels(spec),
            "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"},
        },
        "spec": {
            "predictor": {
                "minReplicas": spec.replicas,
                "maxReplicas": spec.replicas,
                "securityContext": _pod_security(),
                "containers": [container],
                "volumes": [{"name": "tmp", "emptyDir": {}}],
            }
        },
    }
    text: str = yaml.safe_dump(service, sort_keys=False)
    return _header(spec) + text
