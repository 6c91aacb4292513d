"""Deployment targets and the smoke test: ``conveyor deploy`` and ``conveyor smoke-test``.

``local`` runs ``conveyor serve`` in the background (:func:`start_local`, :func:`stop_local`,
:func:`local_status`); ``docker`` writes a build context whose command is the same
``conveyor serve`` (:func:`write_context`); ``kubernetes`` adds a Deployment, a Service and a
KServe InferenceService for the image (:func:`deployment_yaml`,
:func:`inference_service_yaml`). :func:`smoke_test` checks a deployed server with the
model's example rows. Nothing here imports the web stack: the servers are processes.
"""

from __future__ import annotations

from conveyor.deploy.docker import BuildContext, ServeSpec, write_context
from conveyor.deploy.kubernetes import KubernetesSpec, deployment_yaml, inference_service_yaml
from conveyor.deploy.local import (
    LocalStatus,
    StopResult,
    local_deployments,
    local_status,
    start_local,
    stop_local,
)
from conveyor.deploy.smoke import Check, SmokeReport, smoke_test

__all__ = [
    "BuildContext",
    "Check",
    "KubernetesSpec",
    "LocalStatus",
    "ServeSpec",
    "SmokeReport",
    "StopResult",
    "deployment_yaml",
    "inference_service_yaml",
    "local_deployments",
    "local_status",
    "smoke_test",
    "start_local",
    "stop_local",
    "write_context",
]
