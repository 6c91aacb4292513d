"""``@component`` options (retries, timeout, resources, cache, packages) are carried in the spec."""

from __future__ import annotations

from typing import Any

from conveyor import component
from conveyor.dsl import Component
from conveyor.ir import Implementation, Resources, RetryPolicy


@component
def plain(x: int = 1) -> int:
    """Add one.

    The second paragraph is not part of the description.
    """
    return x + 1


@component(
    name="fit-model",
    retries=3,
    retry_backoff_seconds=0.5,
    retry_backoff_factor=3,
    retry_backoff_max_seconds=10,
    timeout=90,
    cpu=2,
    memory="4Gi",
    gpu=1,
    gpu_type="nvidia-l4",
    cache=False,
    cache_env=["SEED", "CUDA_VISIBLE_DEVICES"],
    packages=["scikit-learn==1.5.0"],
    base_image="python:3.11-slim",
)
def configured(x: int = 1) -> None:
    """Every option set."""


def test_component_defaults_to_no_retry_no_timeout_no_resources_and_caching() -> None:
    spec = plain.spec

    assert spec.retry == RetryPolicy()
    assert spec.timeout_seconds is None
    assert spec.resources == Resources()
    assert spec.cache is True
    assert (spec.cache_env, spec.packages, spec.base_image) == ((), (), None)


def test_component_carries_every_option_in_its_spec() -> None:
    spec = configured.spec

    assert spec.name == "fit-model"
    assert spec.retry == RetryPolicy(
        max_retries=3, backoff_seconds=0.5, backoff_factor=3, backoff_max_seconds=10
    )
    assert spec.timeout_seconds == 90
    assert spec.resources == Resources(cpu=2, memory="4Gi", gpu=1, gpu_type="nvidia-l4")
    assert spec.cache is False
    assert spec.cache_env == ("SEED", "CUDA_VISIBLE_DEVICES")
    assert spec.packages == ("scikit-learn==1.5.0",)
    assert spec.base_image == "python:3.11-slim"


def test_component_is_named_after_its_function_and_described_by_its_docstring() -> None:
    assert plain.name == "plain"
    assert plain.spec.description == "Add one."


def test_component_records_an_importable_implementation(load_resource: Any) -> None:
    module = load_resource("configured")

    assert module.load_csv.spec.implementation == Implementation(
        module="configured", function="load_csv", source_file="configured.py"
    )


def test_component_keeps_the_plain_function_callable() -> None:
    assert isinstance(plain, Component)
    assert plain.python_func(x=2) == 3
    assert plain.__wrapped__ is plain.python_func
    assert plain.__name__ == "plain"
    assert plain.__doc__ == plain.python_func.__doc__
    assert repr(plain) == f"<component 'plain' from {__name__}>"
