"""Tasks start with their component's options; ``set_*`` overrides them for one task."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor import component, pipeline
from conveyor.ir import Resources, RetryPolicy


@component(retries=2, timeout=30, cpu=1, memory="1Gi", cache=True)
def step() -> None:
    """A step with options."""


def test_task_inherits_the_options_of_its_component() -> None:
    @pipeline
    def p() -> None:
        step()

    task = p.spec.tasks["step"]
    assert task.retry == RetryPolicy(max_retries=2)
    assert task.timeout_seconds == 30
    assert task.resources == Resources(cpu=1, memory="1Gi")
    assert task.cache is True
    assert task.display_name is None


def test_task_setters_override_options_for_that_task_only() -> None:
    @pipeline
    def p() -> None:
        step().set_retry(5, backoff_seconds=0.1, backoff_factor=4, backoff_max_seconds=9)
        step().set_timeout(None).set_caching(False)
        step().set_resources(gpu=2, gpu_type="nvidia-a100")

    first, second, third = (p.spec.tasks[n] for n in ("step", "step-2", "step-3"))
    assert first.retry == RetryPolicy(5, 0.1, 4, 9)
    assert (second.timeout_seconds, second.cache) == (None, False)
    assert third.resources == Resources(cpu=1, memory="1Gi", gpu=2, gpu_type="nvidia-a100")
    assert p.spec.components["step"].retry == RetryPolicy(max_retries=2)


def test_task_options_of_the_resource_pipeline_reach_the_ir(load_resource: Any) -> None:
    spec = load_resource("configured").configured.spec

    tune = spec.tasks["tune"]
    assert tune.retry == RetryPolicy(max_retries=1, backoff_seconds=2)
    assert tune.timeout_seconds == 120
    assert tune.resources == Resources(cpu=4, memory="8Gi")
    assert tune.display_name == "Tune the model"
    assert spec.tasks["report"].cache is False
    assert spec.tasks["load-csv"].cache is False  # from @component(cache=False)


@pytest.mark.parametrize(
    ("configure", "message"),
    [
        (lambda t: t.set_retry(-1), "max_retries must be >= 0, got -1"),
        (lambda t: t.set_timeout(0), "timeout must be > 0 seconds, got 0"),
    ],
    ids=["negative-retries", "zero-timeout"],
)
def test_task_setters_reject_invalid_values(configure: Any, message: str) -> None:
    @pipeline
    def p() -> None:
        configure(step())

    with pytest.raises(ValueError, match=message):
        _ = p.spec
