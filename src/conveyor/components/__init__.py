"""Standard components, written with the public SDK only."""

from conveyor.components.importers import import_artifact, import_dataset, import_model

__all__ = ["import_artifact", "import_dataset", "import_model"]
