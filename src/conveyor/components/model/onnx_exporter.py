"""The OnnxExporter: a model (its transform included) as ONNX for non-Python runtimes, with
a parity check of the export's answers against the model's own on eval rows.

A step of its own rather than a pusher option: the conversion is a pure function of the
model and the eval rows, so it is cached like the trainer; its outcome (converted or why not,
the parity figures) is recorded for every model, blessed or not; and the pusher stays a
gate without the heavy optional packages, shipping the export only when its parity passed
(``pusher(onnx_model=...)``).
"""

from __future__ import annotations

import json
import os
from typing import Any

from conveyor.dsl import Input, Output, component
from conveyor.errors import ArtifactError
from conveyor.types import Examples, Model
from conveyor.types.model import ONNX_EXPORT_FILE, OnnxModel

__all__ = ["onnx_exporter"]


def _eval_rows(examples: Examples, split: str, rows: int) -> Any:
    """The first ``rows`` rows of the split's Parquet files, as one pyarrow Table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if examples.metadata.get("transformed"):
        raise ArtifactError(
            "onnx_exporter needs the raw examples (example_gen's output), not the transformed "
            "ones: the export applies the model's own transform"
        )
    folder = examples.split_path(split)
    if not os.path.isdir(folder):
        raise ArtifactError(
            f"Examples at {examples.uri or examples.path!r} have no split {split!r}; "
            f"splits: {examples.split_names!r}"
        )
    tables, left = [], rows
    for name in sorted(os.listdir(folder)):
        if left <= 0:
            break
        if name.endswith(".parquet") and not name.startswith((".", "_")):
            table = pq.read_table(os.path.join(folder, name)).slice(0, left)
            tables.append(table)
            left -= table.num_rows
    if not tables:
        raise ArtifactError(f"The {split!r} split at {folder!r} has no Parquet files")
    return pa.concat_tables(tables, promote_options="default")


@component
def onnx_exporter(
    model: Input[Model],
    examples: Input[Examples],
    onnx_model: Output[OnnxModel],
    split: str = "eval",
    parity_rows: int = 1000,
    tolerance: float = 1e-4,
    min_agreement: float = 0.999,
) -> bool:
    """Export ``model`` to ONNX and check it on the first ``parity_rows`` rows of ``split``;
    return whether the export is usable (converted, and its parity passed).

    The export's class probabilities may differ from the model's by at most ``tolerance``
    (regression values by ``tolerance`` relative to their size, ``max(1, |value|)``) and
    its labels agree on at least ``min_agreement`` of the rows
    (tree thresholds run in float32 in ONNX, so a value on a split edge can flip a row).
    A model that cannot be converted (a hash-encoded feature, a ``preprocessing_fn``, an
    estimator no converter supports) is not a failure: the step records ``converted`` False
    and the ``reason``, and returns False. Needs ``pip install 'conveyor-ml[onnx]'``.

    Example:
        >>> export = onnx_exporter(model=train.outputs["model"],
        ...                        examples=gen.outputs["examples"])  # doctest: +SKIP
        >>> pusher(..., onnx_model=export.outputs["onnx_model"])  # doctest: +SKIP
    """
    from conveyor.model.onnx_export import OPSET, check_parity, export_onnx
    from conveyor.model.saved import load_model

    if parity_rows < 1 or not 0 <= min_agreement <= 1 or tolerance < 0:
        raise ValueError(
            "parity_rows must be >= 1, min_agreement within [0, 1] and tolerance >= 0; got "
            f"{parity_rows!r}, {min_agreement!r}, {tolerance!r}"
        )
    loaded = load_model(model.path)
    framework = loaded.manifest.framework
    record: dict[str, Any] = {
        "model_fingerprint": model.fingerprint,
        "model_artifact_id": model.id,
        "framework": framework,
        "converter": "skl2onnx" if framework == "sklearn" else "onnxmltools",
        "opset": OPSET,
    }
    os.makedirs(onnx_model.path, exist_ok=True)
    try:
        data = export_onnx(loaded)
    except ArtifactError as exc:
        record.update(converted=False, reason=str(exc), parity_passed=False)
    else:
        with open(onnx_model.onnx_file, "wb") as fh:
            fh.write(data)
        rows = _eval_rows(examples, split, parity_rows)
        parity = check_parity(loaded, data, rows, tolerance=tolerance, min_agreement=min_agreement)
        record.update(converted=True, reason="", size_bytes=len(data), **parity.as_dict())
        if not parity.passed:
            record["reason"] = (
                f"parity failed on {parity.rows} {split} rows: max diff "
                f"{parity.max_rel_diff:.3g} (tolerance {tolerance}), label agreement "
                f"{parity.label_agreement:.4f} (minimum {min_agreement})"
            )
    with open(os.path.join(onnx_model.path, ONNX_EXPORT_FILE), "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=2, sort_keys=True)
    onnx_model.metadata.update(record)
    return onnx_model.usable
