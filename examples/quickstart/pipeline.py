"""Quickstart: classify penguin species from their measurements.

conveyor run pipeline.py                 # run end to end
conveyor run pipeline.py --param C=0.5   # change a parameter: only train/evaluate rerun
conveyor plan pipeline.py                # what would run, what comes from the cache, why
"""

from __future__ import annotations

import hashlib
import json
import pickle

from features import CATEGORICAL, LABEL, NUMERIC, complete, read_rows, write_rows

from conveyor import Dataset, Input, Metrics, Model, Output, component, pipeline
from conveyor.components import import_dataset


@component
def clean(raw: Input[Dataset], data: Output[Dataset]) -> int:
    """Drop incomplete rows and unused columns; return how many rows remain."""
    rows = [r for r in read_rows(raw.path) if complete(r)]
    write_rows(data.path, rows, [*NUMERIC, *CATEGORICAL, LABEL])
    data.metadata["rows"] = len(rows)
    print(f"kept {len(rows)} complete rows of {raw.metadata.get('source')}")
    return len(rows)


@component
def split(
    data: Input[Dataset],
    train: Output[Dataset],
    eval: Output[Dataset],
    eval_fraction: float = 0.25,
) -> None:
    """Split rows deterministically by a hash of their content."""
    rows = read_rows(data.path)
    columns = list(rows[0])
    bucket = {
        id(r): int(hashlib.sha256(json.dumps(r, sort_keys=True).encode()).hexdigest(), 16) % 1000
        for r in rows
    }
    cut = int(eval_fraction * 1000)
    write_rows(train.path, [r for r in rows if bucket[id(r)] >= cut], columns)
    write_rows(eval.path, [r for r in rows if bucket[id(r)] < cut], columns)


def _matrix(rows: list[dict[str, str]]) -> tuple[list[list[object]], list[str]]:
    return [[float(r[c]) for c in NUMERIC] + [r[c] for c in CATEGORICAL] for r in rows], [
        r[LABEL] for r in rows
    ]


@component
def train(
    train: Input[Dataset], model: Output[Model], metrics: Output[Metrics], C: float = 1.0
) -> float:
    """Fit a scaled logistic regression; return its training accuracy."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = _matrix(read_rows(train.path))
    n = len(NUMERIC)
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), list(range(n))),
            ("cat", OneHotEncoder(handle_unknown="ignore"), list(range(n, n + len(CATEGORICAL)))),
        ]
    )
    clf = make_pipeline(prep, LogisticRegression(C=C, max_iter=1000))
    clf.fit(X, y)
    with open(model.path, "wb") as fh:
        pickle.dump(clf, fh)
    model.metadata["framework"] = "scikit-learn"
    accuracy = float(clf.score(X, y))
    metrics.log_metric("train_accuracy", accuracy)
    return accuracy


@component
def evaluate(model: Input[Model], eval: Input[Dataset], metrics: Output[Metrics]) -> float:
    """Accuracy of the model on the eval split."""
    with open(model.path, "rb") as fh:
        clf = pickle.load(fh)
    X, y = _matrix(read_rows(eval.path))
    accuracy = float(clf.score(X, y))
    metrics.log_metric("eval_accuracy", accuracy)
    metrics.log_metric("eval_rows", len(y))
    print(f"eval accuracy {accuracy:.3f} on {len(y)} rows")
    return accuracy


@pipeline(name="penguins-quickstart")
def quickstart(path: str = "data/penguins.csv", C: float = 1.0, eval_fraction: float = 0.25):
    """Import, clean, split, train and evaluate a penguin species classifier."""
    raw = import_dataset(path=path)
    rows = clean(raw=raw.outputs["data"])
    parts = split(data=rows.outputs["data"], eval_fraction=eval_fraction)
    fit = train(train=parts.outputs["train"], C=C)
    evaluate(model=fit.outputs["model"], eval=parts.outputs["eval"])
