"""Transform: preprocessing fitted on the train split, applied to every split."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from conveyor.dsl import Input, Output, component
from conveyor.errors import ArtifactError
from conveyor.types import Examples, Schema
from conveyor.types.model import TransformGraph

if TYPE_CHECKING:
    import pyarrow as pa

# The model stage's modules import Arrow, NumPy and the learning libraries in the steps' bodies:
# a pipeline file imports them even when every step comes from the cache.

__all__ = ["read_schema", "read_split", "transform"]

SCHEMA_FILE = "schema.yaml"


def read_split(examples: Examples, split: str) -> pa.Table:
    """All rows of ``split`` of an ``Examples`` artifact.

    Raises:
        ArtifactError: the split does not exist (naming the splits that do).
    """
    import pyarrow.parquet as pq

    folder = examples.split_path(split)
    if not os.path.isdir(folder):
        raise ArtifactError(
            f"Examples at {examples.uri or examples.path!r} have no split {split!r}; "
            f"splits: {examples.split_names!r}"
        )
    return pq.read_table(folder)


def read_schema(schema: Schema) -> Any:
    """The ``DataSchema`` of a ``Schema`` artifact (a folder with schema.yaml, or the file)."""
    from conveyor.data.schema import load_schema

    path = schema.path
    return load_schema(os.path.join(path, SCHEMA_FILE) if os.path.isdir(path) else path)


@component
def transform(
    examples: Input[Examples],
    schema: Input[Schema],
    transform_graph: Output[TransformGraph],
    transformed_examples: Output[Examples],
    label: str,
    categorical: str = "onehot",
    encodings: dict[str, str] | None = None,
    num_buckets: int = 10,
    hash_buckets: int = 16,
    impute: str = "mean",
    exclude: list[str] | None = None,
    preprocessing_fn: str | None = None,
    train_split: str = "train",
) -> int:
    """Fit the preprocessing on ``train_split`` and apply it to every split.

    The schema decides each feature's default: numbers are standard-scaled (missing values
    take the train mean), strings with a domain are one-hot encoded with an
    out-of-vocabulary column, free text is hashed. ``encodings`` overrides per feature
    (``scale``, ``bucketize``, ``onehot``, ``ordinal``, ``hash``, ``impute``, ``drop``);
    ``preprocessing_fn`` (``"module:function"``, a ``pyarrow.Table`` in and out) adds custom
    features first. The fitted parameters are written as JSON (``transform.json``) and
    bundled with every model trained on it. Returns the number of transformed features.

    Example:
        >>> tf = transform(examples=gen.outputs["examples"], schema=sg.outputs["schema"],
        ...                label="income_gt_50k", encodings={"age": "bucketize"})  # doctest: +SKIP
    """
    import pyarrow.parquet as pq

    from conveyor.model.transform import TransformOptions, fit_transform

    options = TransformOptions(
        categorical=categorical,
        encodings=dict(encodings or {}),
        num_buckets=num_buckets,
        hash_buckets=hash_buckets,
        impute=impute,
        exclude=tuple(exclude or ()),
        preprocessing_fn=preprocessing_fn,
    )
    data_schema = read_schema(schema)
    train = read_split(examples, train_split)
    fitted = fit_transform(train, data_schema, label, options)
    fitted.save(transform_graph.path)
    _keep_raw_rows(train, fitted.inputs, transform_graph.path)
    transform_graph.metadata.update(
        label=label,
        train_split=train_split,
        inputs=dict(fitted.inputs),
        outputs=fitted.output_names,
    )
    row_counts: dict[str, int] = {}
    columns: dict[str, str] = {}
    for split in examples.split_names:
        out = fitted.apply(read_split(examples, split))
        folder = transformed_examples.split_path(split)
        os.makedirs(folder, exist_ok=True)
        pq.write_table(out, os.path.join(folder, "part-00000.parquet"))
        row_counts[split] = out.num_rows
        columns = {name: "FLOAT" for name in fitted.output_names}
        label_schema = data_schema.feature(label)
        if label in out.column_names and label_schema is not None:
            columns[label] = str(label_schema.type)
    transformed_examples.metadata.update(
        split_names=examples.split_names,
        row_counts=row_counts,
        columns=columns,
        transformed=True,
    )
    return len(fitted.output_names)


def _keep_raw_rows(train: pa.Table, inputs: dict[str, str], path: str) -> None:
    """Keep the first raw train rows beside the graph: a model trained on the transformed
    examples never sees raw rows, and keeps some of these as its example rows."""
    from conveyor.model.examples import example_rows, write_examples

    signature = [{"name": name, "type": type_} for name, type_ in inputs.items()]
    write_examples(path, example_rows(train, signature, limit=50))
