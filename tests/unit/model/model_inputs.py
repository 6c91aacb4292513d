"""Examples, Schema and output artifacts on disk, to call the model components' functions
directly (``trainer.python_func(...)``) on small hand-made splits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from conveyor.data.model import DataSchema, FeatureSchema, FeatureType
from conveyor.data.schema import save_schema
from conveyor.types import Examples, Metrics, Model, Schema

SCHEMA = DataSchema([FeatureSchema("x", FeatureType.FLOAT), FeatureSchema("y", FeatureType.STRING)])
"""A float feature ``x`` and the string label ``y``."""


def examples(root: Path, splits: dict[str, dict[str, list[Any]]]) -> Examples:
    """An Examples artifact at ``root/examples`` holding ``splits`` (name -> columns)."""
    path = root / "examples"
    for name, columns in splits.items():
        (path / name).mkdir(parents=True)
        pq.write_table(pa.table(columns), str(path / name / "part-00000.parquet"))
    return Examples(
        name="examples",
        uri=f"file://{path}",
        path=str(path),
        metadata={"split_names": list(splits)},
    )


def schema(root: Path, data_schema: DataSchema = SCHEMA) -> Schema:
    """A Schema artifact at ``root/schema`` holding ``data_schema``."""
    path = root / "schema"
    path.mkdir()
    save_schema(data_schema, str(path / "schema.yaml"))
    return Schema(name="schema", uri=f"file://{path}", path=str(path))


def outputs(root: Path) -> dict[str, Any]:
    """The trainer's output artifacts (``model``, ``metrics``) under ``root``."""
    os.makedirs(root / "out", exist_ok=True)
    return {
        "model": Model(name="model", path=str(root / "out" / "model")),
        "metrics": Metrics(name="metrics", path=str(root / "out" / "metrics")),
    }


def fit_on_validation_data(ctx: Any) -> Any:
    """A ``run_fn`` that stops on ``ctx.validation_data()``: fits on the fit part and keeps
    the sizes it saw on the estimator (``seen``)."""
    from sklearn.linear_model import LogisticRegression

    part = ctx.validation_data()
    model = LogisticRegression().fit(part.x_fit, part.y_fit)
    model.seen = (len(part.y_fit), len(part.y_valid), part.detail)
    return model
