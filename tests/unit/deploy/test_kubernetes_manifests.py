"""The Kubernetes and KServe manifests use only real field names, at pinned API versions.

The field names below are those of the Kubernetes API reference (apps/v1 Deployment, v1
Service, core/v1 PodSpec and Container) and of KServe's v1beta1 Go types
(``pkg/apis/serving/v1beta1``: ``InferenceServiceSpec``, ``PredictorSpec`` with the PodSpec
and ``ComponentExtensionSpec`` inlined; a custom predictor's container is named
``kserve-container``). A misspelt or invented field fails the walk.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from conveyor.deploy import KubernetesSpec, deployment_yaml, inference_service_yaml

API_VERSIONS = {
    "Deployment": "apps/v1",
    "Service": "v1",
    "InferenceService": "serving.kserve.io/v1beta1",
}

# type -> {field: type of its value (None: a scalar, a string map or a list of scalars)}
_META = {"name": None, "namespace": None, "labels": None, "annotations": None}
_PROBE = {"httpGet": "HTTPGetAction", "exec": None, "tcpSocket": None, "grpc": None,
          "initialDelaySeconds": None, "periodSeconds": None, "timeoutSeconds": None,
          "successThreshold": None, "failureThreshold": None,
          "terminationGracePeriodSeconds": None}  # fmt: skip
_POD_SPEC = {"containers": "[Container]", "initContainers": "[Container]",
             "volumes": "[Volume]", "securityContext": "PodSecurityContext",
             "terminationGracePeriodSeconds": None, "serviceAccountName": None,
             "nodeSelector": None, "tolerations": None, "affinity": None,
             "imagePullSecrets": None}  # fmt: skip
FIELDS: dict[str, dict[str, str | None]] = {
    "Deployment": {"apiVersion": None, "kind": None, "metadata": "ObjectMeta",
                   "spec": "DeploymentSpec"},
    "Service": {"apiVersion": None, "kind": None, "metadata": "ObjectMeta",
                "spec": "ServiceSpec"},
    "InferenceService": {"apiVersion": None, "kind": None, "metadata": "ObjectMeta",
                         "spec": "InferenceServiceSpec"},
    "ObjectMeta": _META,
    "DeploymentSpec": {"replicas": None, "selector": "LabelSelector",
                       "template": "PodTemplateSpec", "strategy": None, "minReadySeconds": None,
                       "revisionHistoryLimit": None, "progressDeadlineSeconds": None},
    "LabelSelector": {"matchLabels": None, "matchExpressions": None},
    "PodTemplateSpec": {"metadata": "ObjectMeta", "spec": "PodSpec"},
    "PodSpec": _POD_SPEC,
    "PodSecurityContext": {"runAsNonRoot": None, "runAsUser": None, "runAsGroup": None,
                           "fsGroup": None, "seccompProfile": "SeccompProfile",
                           "supplementalGroups": None},
    "SeccompProfile": {"type": None, "localhostProfile": None},
    "Container": {"name": None, "image": None, "imagePullPolicy": None, "command": None,
                  "args": None, "env": "[EnvVar]", "envFrom": None, "ports": "[ContainerPort]",
                  "readinessProbe": "Probe", "livenessProbe": "Probe", "startupProbe": "Probe",
                  "resources": "ResourceRequirements", "securityContext": "SecurityContext",
                  "volumeMounts": "[VolumeMount]", "workingDir": None},
    "EnvVar": {"name": None, "value": None, "valueFrom": "EnvVarSource"},
    "EnvVarSource": {"secretKeyRef": "SecretKeySelector", "configMapKeyRef": None,
                     "fieldRef": None, "resourceFieldRef": None},
    "SecretKeySelector": {"name": None, "key": None, "optional": None},
    "ContainerPort": {"name": None, "containerPort": None, "protocol": None, "hostPort": None},
    "Probe": _PROBE,
    "HTTPGetAction": {"path": None, "port": None, "host": None, "scheme": None,
                      "httpHeaders": None},
    "ResourceRequirements": {"requests": None, "limits": None},
    "SecurityContext": {"allowPrivilegeEscalation": None, "readOnlyRootFilesystem": None,
                        "capabilities": "Capabilities", "runAsNonRoot": None,
                        "runAsUser": None, "privileged": None},
    "Capabilities": {"add": None, "drop": None},
    "VolumeMount": {"name": None, "mountPath": None, "readOnly": None, "subPath": None},
    "Volume": {"name": None, "emptyDir": "EmptyDirVolumeSource", "secret": None,
               "configMap": None, "persistentVolumeClaim": None},
    "EmptyDirVolumeSource": {"medium": None, "sizeLimit": None},
    "ServiceSpec": {"type": None, "selector": None, "ports": "[ServicePort]",
                    "clusterIP": None},
    "ServicePort": {"name": None, "port": None, "targetPort": None, "protocol": None,
                    "nodePort": None, "appProtocol": None},
    "InferenceServiceSpec": {"predictor": "PredictorSpec", "transformer": None,
                             "explainer": None},
    "PredictorSpec": {**_POD_SPEC, "minReplicas": None, "maxReplicas": None,
                      "scaleTarget": None, "scaleMetric": None, "containerConcurrency": None,
                      "timeout": None, "canaryTrafficPercent": None, "logger": None,
                      "batcher": None, "labels": None, "annotations": None,
                      "deploymentStrategy": None},
}  # fmt: skip


def unknown_fields(value: Any, kind: str, where: str = "") -> list[str]:
    """The paths of fields in ``value`` that type ``kind`` does not have."""
    if kind.startswith("["):
        assert isinstance(value, list), where
        return [p for i, item in enumerate(value) for p in unknown_fields(item, kind[1:-1],
                f"{where}[{i}]")]  # fmt: skip
    assert isinstance(value, dict), where
    found = []
    for key, item in value.items():
        path = f"{where}.{key}"
        if key not in FIELDS[kind]:
            found.append(path)
        elif FIELDS[kind][key] is not None:
            found += unknown_fields(item, str(FIELDS[kind][key]), path)
    return found


def test_the_field_walk_sees_a_misspelt_field():
    bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
           "spec": {"ports": [{"port": 80, "targetport": "http"}]}}  # fmt: skip
    assert unknown_fields(bad, "Service") == [".spec.ports[0].targetport"]


SPEC = KubernetesSpec(
    name="census-prod",
    image="registry.example/conveyor-census:3",
    command=["conveyor", "serve", "models/census/3", "--host", "0.0.0.0", "--port", "9000"],
    port=9000,
    replicas=2,
    cpu="250m",
    memory="768Mi",
    token_secret="census-token",
)


def _documents() -> list[dict[str, Any]]:
    docs = list(yaml.safe_load_all(deployment_yaml(SPEC)))
    return [*docs, yaml.safe_load(inference_service_yaml(SPEC))]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_every_manifest_uses_known_fields_at_the_pinned_api_version(index):
    doc = _documents()[index]
    assert doc["apiVersion"] == API_VERSIONS[doc["kind"]]
    assert unknown_fields(doc, doc["kind"]) == []


def _check_container(container: dict[str, Any], port: object) -> None:
    assert container["image"] == SPEC.image
    assert container["command"] == SPEC.command
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
    assert container["env"] == [
        {
            "name": "CONVEYOR_SERVE_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "census-token", "key": "token"}},
        }
    ]
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "768Mi"},
        "limits": {"memory": "768Mi"},
    }
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]


def test_the_deployment_runs_the_command_with_probes_token_and_resources():
    deployment, service, _ = _documents()
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["metadata"]["name"] == "census-prod"
    assert deployment["spec"]["replicas"] == 2
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    (container,) = pod["containers"]
    _check_container(container, "http")
    assert container["ports"] == [{"name": "http", "containerPort": 9000, "protocol": "TCP"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    # the Service reaches the pods of the Deployment, on the container's named port
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]


def test_the_inference_service_is_a_custom_predictor_in_raw_deployment_mode():
    isvc = _documents()[2]
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", isvc["metadata"]["name"])  # KServe's rule
    assert isvc["metadata"]["annotations"] == {"serving.kserve.io/deploymentMode": "RawDeployment"}
    predictor = isvc["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 2)
    (container,) = predictor["containers"]
    assert container["name"] == "kserve-container"
    _check_container(container, 9000)
    assert container["ports"] == [{"containerPort": 9000, "protocol": "TCP"}]


def test_without_a_token_secret_no_env_is_set_and_the_files_say_so():
    spec = KubernetesSpec(name="open", image="img:1", command=["conveyor", "serve", "m"])
    deployment = next(yaml.safe_load_all(deployment_yaml(spec)))
    assert "env" not in deployment["spec"]["template"]["spec"]["containers"][0]
    assert "WITHOUT a token" in inference_service_yaml(spec)
