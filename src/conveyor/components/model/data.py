"""The data a model step trains on: labels, task, features, with the fitted transform.

Shared by the Trainer and the Tuner, so both see exactly the same matrices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from conveyor.components.model.transform import read_schema, read_split
from conveyor.data.model import DataSchema, FeatureType
from conveyor.errors import ArtifactError
from conveyor.model.transform import FittedTransform, fit_transform, load_transform
from conveyor.types import Examples, Schema
from conveyor.types.model import TransformGraph

__all__ = [
    "MAX_CLASSES_OF_INT_LABEL",
    "UNSEEN_LABEL_POLICIES",
    "TrainingData",
    "split_matrices",
    "training_data",
]

UNSEEN_LABEL_POLICIES = ("fail", "drop")
"""What to do with eval rows whose label the train split never had: fail naming the values
and their counts, or drop them (recorded in ``TrainingData.dropped``)."""

MAX_CLASSES_OF_INT_LABEL = 20
"""An integer label with at most this many distinct values is a classification target."""


@dataclass
class TrainingData:
    """Train and eval splits as matrices, with the label encoded for the task."""

    schema: DataSchema
    fitted: FittedTransform
    task: str
    classes: list[Any] | None
    train: pa.Table
    eval: pa.Table
    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray
    dropped: dict[str, dict[str, Any]]
    """Per split, the rows left out: ``{"eval": {"null_label": 3, "unseen_label": {"x": 2}}}``
    (only splits and reasons that dropped rows)."""

    def rows(self) -> dict[str, int]:
        """The rows each split's matrices hold (what metrics are computed on)."""
        return {"train": len(self.y_train), "eval": len(self.y_eval)}


def training_data(
    examples: Examples,
    schema: Schema,
    label: str,
    transform_graph: TransformGraph | None,
    task: str = "auto",
    train_split: str = "train",
    eval_split: str | None = "eval",
    unseen_labels: str = "fail",
) -> TrainingData:
    """Read the splits, fit (or load) the transform, resolve the task and encode the label.

    Rows without a label are left out of both splits; eval rows whose label the train split
    never had fail the step, naming the values and their counts (``unseen_labels="fail"``),
    or are left out (``"drop"``); either way :attr:`TrainingData.dropped` records what was
    left out. ``eval_split=None`` reads no eval split (the eval matrices are empty).

    Raises:
        ValueError: the label is not in the schema, the task or policy is unknown, the label
            has fewer than two classes in train, or eval labels are unseen in train.
    """
    if unseen_labels not in UNSEEN_LABEL_POLICIES:
        raise ValueError(
            f"unseen_labels must be one of {list(UNSEEN_LABEL_POLICIES)}, got {unseen_labels!r}"
        )
    data_schema = read_schema(schema)
    label_schema = data_schema.feature(label)
    if label_schema is None:
        names = [f.name for f in data_schema.features]
        raise ValueError(f"Label {label!r} is not in the schema; features: {names!r}")
    train_table = read_split(examples, train_split)
    eval_table = (
        read_split(examples, eval_split) if eval_split is not None else train_table.slice(0, 0)
    )
    if transform_graph is not None:
        fitted = load_transform(transform_graph.path)
    elif examples.metadata.get("transformed"):
        raise ValueError("These examples are transformed: connect the transform_graph too")
    else:
        fitted = fit_transform(train_table, data_schema, label)
    if label not in train_table.column_names:
        raise ArtifactError(f"The examples have no label column {label!r}")
    resolved = _task_of(task, label_schema.type, train_table.column(label))
    classes = None
    if resolved == "classification":
        classes = sorted(pc.unique(pc.drop_null(train_table.column(label))).to_pylist())
        if len(classes) < 2:
            raise ValueError(f"Label {label!r} has {len(classes)} class(es) in train; need 2+")
    dropped: dict[str, dict[str, Any]] = {}
    train_table, y_train = _labels(train_table, label, resolved, classes, dropped, "train")
    eval_table, y_eval = _labels(eval_table, label, resolved, classes, dropped, "eval")
    if unseen_labels == "fail":
        _refuse_unseen(
            dropped.get("eval", {}), len(y_eval), label, eval_split, train_split, classes
        )
    return TrainingData(
        schema=data_schema,
        fitted=fitted,
        task=resolved,
        classes=classes,
        train=train_table,
        eval=eval_table,
        x_train=_features(examples, train_table, fitted),
        y_train=y_train,
        x_eval=_features(examples, eval_table, fitted),
        y_eval=y_eval,
        dropped=dropped,
    )


def split_matrices(
    examples: Examples,
    data: TrainingData,
    label: str,
    split: str,
    unseen_labels: str = "fail",
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Another split of ``examples`` as features and encoded labels, with ``data``'s transform
    and classes (a validation split); also what was left out and why.

    Raises:
        ValueError: the split holds labels unseen in train (``unseen_labels="fail"``).
    """
    dropped: dict[str, dict[str, Any]] = {}
    table, y = _labels(read_split(examples, split), label, data.task, data.classes, dropped, split)
    if unseen_labels == "fail":
        _refuse_unseen(dropped.get(split, {}), len(y), label, split, "train", data.classes)
    return _features(examples, table, data.fitted), y, dropped.get(split, {})


def _refuse_unseen(
    dropped: dict[str, Any],
    kept: int,
    label: str,
    split: str | None,
    train_split: str,
    classes: list[Any] | None,
) -> None:
    unseen = dropped.get("unseen_label")
    if not unseen:
        return
    total = sum(unseen.values())
    shown = dict(list(unseen.items())[:10])
    raise ValueError(
        f"{total} of {total + kept} labelled rows of the {split!r} split have "
        f"{label!r} values the {train_split!r} split never had: {shown!r} (value: rows; "
        f"train classes: {classes!r}). The model cannot predict them, so its metrics "
        "would leave them out. Fix the split (more data, a key-based split) or pass "
        "unseen_labels='drop' to leave those rows out (recorded in the metrics)"
    )


def _task_of(task: str, label_type: FeatureType, y: pa.ChunkedArray) -> str:
    if task != "auto":
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be 'auto', 'classification' or 'regression', got {task!r}")
        return task
    if label_type in (FeatureType.STRING, FeatureType.BOOL):
        return "classification"
    if label_type == FeatureType.INT and len(pc.unique(y)) <= MAX_CLASSES_OF_INT_LABEL:
        return "classification"
    return "regression"


def _labels(
    table: pa.Table,
    label: str,
    task: str,
    classes: list[Any] | None,
    dropped: dict[str, dict[str, Any]],
    split: str,
) -> tuple[pa.Table, np.ndarray]:
    """The rows with a known label and the label encoded; what was left out goes in
    ``dropped[split]``."""
    if label not in table.column_names:
        raise ArtifactError(f"The examples have no label column {label!r}: {table.column_names!r}")
    valid = pc.is_valid(table.column(label))
    nulls = table.num_rows - int(pc.sum(valid).as_py() or 0)
    if nulls:
        dropped.setdefault(split, {})["null_label"] = nulls
        table = table.filter(valid)
    y = table.column(label)
    if task == "regression":
        return table, np.asarray(pc.cast(y, pa.float64(), safe=False).to_numpy(), dtype=np.float64)
    index = pc.index_in(y, value_set=pa.array(classes, type=y.type))
    known = pc.is_valid(index)
    if int(pc.sum(known).as_py() or 0) < table.num_rows:
        counts = pc.value_counts(pc.filter(y, pc.invert(known))).to_pylist()
        counts.sort(key=lambda c: (-c["counts"], str(c["values"])))
        dropped.setdefault(split, {})["unseen_label"] = {
            _key(c["values"]): int(c["counts"]) for c in counts
        }
        table = table.filter(known)
    return table, np.asarray(pc.drop_null(index).to_numpy(), dtype=np.int64)


def _key(value: Any) -> Any:
    """A label value as a JSON object key (metadata is JSON)."""
    return value if isinstance(value, str) else str(value)


def _features(examples: Examples, table: pa.Table, fitted: FittedTransform) -> np.ndarray:
    if not examples.metadata.get("transformed"):
        return fitted.matrix(table)
    missing = [n for n in fitted.output_names if n not in table.column_names]
    if missing:
        raise ArtifactError(
            f"The transformed examples lack the transform's outputs {missing[:5]!r}; connect "
            "the transform_graph that produced these examples"
        )
    return np.column_stack([table.column(n).to_numpy() for n in fitted.output_names])
