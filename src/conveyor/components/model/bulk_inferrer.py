"""The BulkInferrer: a model's predictions on a split of examples, for batch jobs in a pipeline.

It scores with :func:`conveyor.model.batch.score_file`, the function behind ``conveyor
predict``, so both give the same predictions, chunk by chunk in bounded memory.
"""

from __future__ import annotations

import os

from conveyor.dsl import Input, Output, component
from conveyor.errors import ArtifactError
from conveyor.types import Examples, Model
from conveyor.types.model import InferenceResult

__all__ = ["bulk_inferrer"]


@component
def bulk_inferrer(
    model: Input[Model],
    examples: Input[Examples],
    inference_result: Output[InferenceResult],
    split: str = "eval",
    id_column: str | None = None,
    chunk_rows: int = 100_000,
) -> int:
    """Score every row of the ``split`` of ``examples`` with ``model``; return the row count.

    Writes ``<inference_result>/<split>/part-NNNNN.parquet`` per Parquet file of the split,
    row for row: ``id_column`` (when given), ``prediction`` and, for classifiers,
    ``probability_<class>`` per class. Metadata: ``split``, ``row_counts``, ``columns``,
    ``model_uri``. Cached like the other steps: the same model and examples are not
    scored twice.

    Example:
        >>> scores = bulk_inferrer(model=train.outputs["model"],
        ...                        examples=gen.outputs["examples"], split="test",
        ...                        id_column="id")  # doctest: +SKIP
    """
    from conveyor.model.batch import score_file
    from conveyor.model.saved import load_model

    if examples.metadata.get("transformed"):
        raise ArtifactError(
            "bulk_inferrer needs the raw examples (example_gen's output), not the "
            "transformed ones: the model applies its own transform"
        )
    folder = examples.split_path(split)
    if not os.path.isdir(folder):
        raise ArtifactError(
            f"Examples at {examples.uri or examples.path!r} have no split {split!r}; "
            f"splits: {examples.split_names!r}"
        )
    files = sorted(
        f for f in os.listdir(folder) if f.endswith(".parquet") and not f.startswith((".", "_"))
    )
    loaded = load_model(model.path)
    out_folder = inference_result.split_path(split)
    os.makedirs(out_folder, exist_ok=True)
    rows = 0
    columns: list[str] = []
    for name in files:
        result = score_file(
            loaded,
            os.path.join(folder, name),
            os.path.join(out_folder, name),
            id_column=id_column,
            chunk_rows=chunk_rows,
        )
        rows += result.rows
        columns = result.columns
    inference_result.metadata.update(
        {
            "split": split,
            "row_counts": {split: rows},
            "columns": columns,
            "model_uri": model.uri or model.path,
        }
    )
    return rows
