"""Public conformance suites: run the checks we run on our backends against your own.

Example:
    >>> from conveyor.testing import check_artifact_store, check_component, check_metadata_store
"""

from conveyor.testing.components import check_component
from conveyor.testing.metadata import check_metadata_store, metadata_store_checks
from conveyor.testing.registry import check_model_registry, model_registry_checks
from conveyor.testing.storage import artifact_store_checks, check_artifact_store

__all__ = [
    "artifact_store_checks",
    "check_artifact_store",
    "check_component",
    "check_metadata_store",
    "check_model_registry",
    "metadata_store_checks",
    "model_registry_checks",
]
