"""Preprocessing fitted on the train split and applied, unchanged, to every split and at serving.

A :class:`FittedTransform` is a list of per-feature steps whose fitted parameters (means,
quantile boundaries, vocabularies) are plain JSON, so ``transform.json`` can be read and
reviewed. A user function for custom features is recorded by its import reference
(``"module:function"``), never pickled: it must be importable wherever the model is served.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from conveyor._internal.importing import import_object
from conveyor.data.columns import feature_type
from conveyor.data.model import DataSchema, FeatureType
from conveyor.errors import ArtifactError

__all__ = [
    "ENCODINGS",
    "FeatureStep",
    "FittedTransform",
    "TransformOptions",
    "fit_transform",
    "load_transform",
]

TRANSFORM_FILE = "transform.json"
FORMAT_VERSION = 1
OOV = "<OOV>"
ENCODINGS = ("scale", "bucketize", "onehot", "ordinal", "hash", "impute", "drop")
"""Per-feature operations: ``scale`` (standard: (x - mean) / std, missing -> train mean),
``bucketize`` (quantile buckets of train), ``onehot`` / ``ordinal`` (train vocabulary plus an
out-of-vocabulary slot for unseen and missing values), ``hash`` (stable hash into
``hash_buckets`` indicator columns), ``impute`` (missing -> train mean/median, no scaling),
``drop``."""

_NUMERIC = {FeatureType.INT, FeatureType.FLOAT, FeatureType.BOOL, FeatureType.TIMESTAMP}


@dataclass(frozen=True)
class TransformOptions:
    """How to preprocess; the schema decides the default per feature.

    Attributes:
        categorical: encoding of strings with a domain in the schema (``onehot``, ``ordinal``,
            ``hash``); strings without a domain (free text) are hashed.
        encodings: per-feature overrides, e.g. ``{"age": "bucketize", "zip": "hash"}``.
        num_buckets: quantile buckets for ``bucketize``.
        hash_buckets: indicator columns for ``hash``.
        impute: ``mean`` or ``median`` for missing numbers.
        max_vocabulary: vocabularies keep the most frequent values up to this size.
        exclude: features to leave out.
        preprocessing_fn: ``"module:function"`` taking and returning a ``pyarrow.Table``,
            applied first, to add custom features (the built-ins then encode new columns).
    """

    categorical: str = "onehot"
    encodings: Mapping[str, str] = field(default_factory=dict)
    num_buckets: int = 10
    hash_buckets: int = 16
    impute: str = "mean"
    max_vocabulary: int = 1000
    exclude: Sequence[str] = ()
    preprocessing_fn: str | None = None

    def __post_init__(self) -> None:
        for name, enc in {"<categorical>": self.categorical, **self.encodings}.items():
            if enc not in ENCODINGS:
                raise ValueError(
                    f"Unknown encoding {enc!r} for {name!r}; use one of {list(ENCODINGS)}"
                )
        if self.impute not in ("mean", "median"):
            raise ValueError(f"impute must be 'mean' or 'median', got {self.impute!r}")
        if self.num_buckets < 2 or self.hash_buckets < 1:
            raise ValueError("num_buckets must be >= 2 and hash_buckets >= 1")


@dataclass
class FeatureStep:
    """One input feature's operation, its fitted parameters and the columns it outputs."""

    feature: str
    type: str
    kind: str
    params: dict[str, Any]
    outputs: list[str]


@dataclass
class FittedTransform:
    """A transform fitted on train: apply it to any split, or to serving requests.

    Example:
        >>> fitted = fit_transform(train, schema, label="species")  # doctest: +SKIP
        >>> fitted.apply(eval_table).column_names[:2]  # doctest: +SKIP
        ['bill_length_mm', 'body_mass_g']
    """

    label: str | None
    steps: list[FeatureStep]
    preprocessing_fn: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)  # raw column -> logical type
    version: int = FORMAT_VERSION

    @property
    def output_names(self) -> list[str]:
        """The transformed feature columns, in order."""
        return [name for step in self.steps for name in step.outputs]

    def step(self, feature: str) -> FeatureStep:
        """The step of ``feature`` (KeyError when it is not transformed)."""
        for step in self.steps:
            if step.feature == feature:
                return step
        raise KeyError(feature)

    def apply(self, table: pa.Table, *, keep_label: bool = True) -> pa.Table:
        """Transform ``table``: float64 feature columns, then the label if present.

        Raises:
            ValueError: when a column the transform needs is missing.
        """
        matrix = self.matrix(table)
        out = pa.table({name: matrix[:, j] for j, name in enumerate(self.output_names)})
        if keep_label and self.label and self.label in table.column_names:
            out = out.append_column(self.label, table.column(self.label))
        return out

    def _check_inputs(self, table: pa.Table) -> None:
        missing = [name for name in self.inputs if name not in table.column_names]
        if missing:
            raise ValueError(
                f"The data lacks column(s) {missing!r} that the transform needs; it was fitted "
                f"on {sorted(self.inputs)!r}. Give every input column of the model signature"
            )

    def _fill(self, table: pa.Table) -> np.ndarray:
        source = _user_features(self.preprocessing_fn, table)
        width = sum(len(step.outputs) for step in self.steps)
        # column-major: each output column is contiguous, one-hot cells are set in place
        out = np.zeros((table.num_rows, width), dtype=np.float64, order="F")
        start = 0
        for step in self.steps:
            _write_step(step, source, out, start)
            start += len(step.outputs)
        return out

    def matrix(self, table: pa.Table) -> np.ndarray:
        """The transformed features of ``table`` as a float64 matrix (rows x outputs), in
        column-major order (what LightGBM, XGBoost and scikit-learn take without a copy).

        Raises:
            ValueError: when a column the transform needs is missing.
        """
        self._check_inputs(table)
        return self._fill(table)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``transform.json`` holds)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FittedTransform:
        """Inverse of :meth:`to_dict`."""
        if data.get("version") != FORMAT_VERSION:
            raise ArtifactError(
                f"transform.json has format version {data.get('version')!r}; this Conveyor "
                f"reads version {FORMAT_VERSION}. Refit the transform with this version"
            )
        return cls(
            label=data["label"],
            steps=[FeatureStep(**s) for s in data["steps"]],
            preprocessing_fn=data.get("preprocessing_fn"),
            inputs=dict(data.get("inputs", {})),
        )

    def save(self, path: str) -> str:
        """Write ``<path>/transform.json`` (creating ``path``); return the file."""
        os.makedirs(path, exist_ok=True)
        file = os.path.join(path, TRANSFORM_FILE)
        with open(file, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, indent=1, sort_keys=True)
        return file


def load_transform(path: str) -> FittedTransform:
    """Read a transform saved with :meth:`FittedTransform.save` (folder or file).

    Example:
        >>> fitted = load_transform(transform_graph.path)  # doctest: +SKIP
    """
    file = os.path.join(path, TRANSFORM_FILE) if os.path.isdir(path) else path
    try:
        with open(file, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"Cannot read the transform at {file!r}: {exc}") from exc
    return FittedTransform.from_dict(data)


def fit_transform(
    table: pa.Table,
    schema: DataSchema,
    label: str | None,
    options: TransformOptions | None = None,
) -> FittedTransform:
    """Fit the preprocessing on ``table`` (the train split) as the schema describes it.

    Every schema feature present in ``table`` is used except the label, features excluded
    from the ``SERVING`` environment and ``options.exclude``. Columns the user function adds
    are encoded by their Arrow type (numbers scaled, strings one-hot).

    Example:
        >>> options = TransformOptions(encodings={"age": "bucketize"})
        >>> fitted = fit_transform(train, schema, "income_gt_50k", options)  # doctest: +SKIP
    """
    opts = options or TransformOptions()
    unknown = sorted(set(opts.encodings) - {f.name for f in schema.features})
    if label is not None and schema.feature(label) is None:
        raise ValueError(
            f"Label {label!r} is not a feature of the schema; features are "
            f"{[f.name for f in schema.features]!r}"
        )
    inputs: dict[str, str] = {}
    planned: list[tuple[str, FeatureType, str]] = []
    for feature in schema.features:
        if (
            feature.name == label
            or feature.name in opts.exclude
            or "SERVING" in feature.not_in_environments
            or feature.name not in table.column_names
        ):
            continue
        inputs[feature.name] = str(feature.type)
        planned.append((feature.name, feature.type, _default(feature.type, feature.values, opts)))
    source = _user_features(opts.preprocessing_fn, table)
    for name in source.column_names:
        if name in inputs or name == label or name in table.column_names:
            continue
        ftype = feature_type(source.schema.field(name).type)
        unknown = [u for u in unknown if u != name]
        planned.append(
            (name, ftype, _default(ftype, [] if ftype is FeatureType.STRING else None, opts))
        )
    if unknown:
        raise ValueError(f"encodings name unknown feature(s) {unknown!r}")
    steps = []
    for name, ftype, default in planned:
        kind = opts.encodings.get(name, default)
        if kind == "drop":
            continue
        steps.append(_fit_step(name, ftype, kind, source.column(name), opts))
    return FittedTransform(label, steps, opts.preprocessing_fn, inputs)


def _default(ftype: FeatureType, values: list[str] | None, opts: TransformOptions) -> str:
    if ftype in _NUMERIC:
        return "scale"
    return opts.categorical if values is not None else "hash"


def _user_features(reference: str | None, table: pa.Table) -> pa.Table:
    if reference is None:
        return table
    module, sep, name = reference.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"preprocessing_fn must be 'module:function', got {reference!r}")
    fn: Callable[[pa.Table], Any] = import_object(module, name)
    result = fn(table)
    if isinstance(result, Mapping):
        result = pa.table(dict(result))
    if not isinstance(result, pa.Table):
        raise TypeError(
            f"preprocessing_fn {reference!r} returned {type(result).__name__}; return a "
            "pyarrow.Table (or a mapping of column name -> values)"
        )
    for col in table.column_names:  # the function may replace columns, never drop inputs
        if col not in result.column_names:
            result = result.append_column(col, table.column(col))
    return result


def _numbers(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Float64 values with NaN for missing; timestamps become seconds since the epoch."""
    tp = col.type
    if pa.types.is_timestamp(tp) or pa.types.is_date(tp):
        col = pc.cast(pc.cast(col, pa.timestamp("s")), pa.int64())
    elif pa.types.is_string(tp) or pa.types.is_large_string(tp):
        try:
            col = pc.cast(col, pa.float64())
        except pa.ArrowInvalid as exc:
            raise ValueError(f"Expected numbers, got text that is not a number: {exc}") from exc
    # unsafe: an integer past 2**53 rounds to the nearest float, as NumPy's astype does
    values = pc.fill_null(pc.cast(col, pa.float64(), safe=False), float("nan"))
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)


def _strings(col: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    return col if pa.types.is_string(col.type) else pc.cast(col, pa.string())


def _fit_step(
    name: str, ftype: FeatureType, kind: str, col: pa.ChunkedArray, opts: TransformOptions
) -> FeatureStep:
    if kind in ("scale", "bucketize", "impute"):
        x = _numbers(col)
        present = x[np.isfinite(x)]
        if present.size == 0:
            raise ValueError(f"Feature {name!r} has no values in the train split to fit {kind!r}")
        fill = float(np.mean(present) if opts.impute == "mean" else np.median(present))
        params: dict[str, Any] = {"impute": fill}
        if kind == "scale":
            std = float(np.std(present))
            params.update(mean=float(np.mean(present)), std=std if std > 0 else 1.0)
        elif kind == "bucketize":
            qs = np.quantile(present, np.linspace(0, 1, opts.num_buckets + 1)[1:-1])
            params["boundaries"] = [float(b) for b in np.unique(qs)]
        return FeatureStep(name, str(ftype), kind, params, [name])
    if kind == "hash":
        return FeatureStep(
            name, str(ftype), kind, {"buckets": opts.hash_buckets},
            [f"{name}[hash={i}]" for i in range(opts.hash_buckets)],
        )  # fmt: skip
    counts = pc.value_counts(pc.drop_null(_strings(col))).to_pylist()
    ranked = sorted(counts, key=lambda vc: (-vc["counts"], vc["values"]))
    vocab = [str(vc["values"]) for vc in ranked[: opts.max_vocabulary]]
    if kind == "ordinal":
        return FeatureStep(name, str(ftype), kind, {"vocabulary": vocab}, [name])
    outputs = [f"{name}={v}" for v in vocab] + [f"{name}={OOV}"]
    return FeatureStep(name, str(ftype), kind, {"vocabulary": vocab}, outputs)


def _stable_hash(value: str, buckets: int) -> int:
    digest = hashlib.blake2b(value.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % buckets


def _write_step(step: FeatureStep, table: pa.Table, out: np.ndarray, start: int) -> None:
    """Write the outputs of ``step`` into columns ``start...`` of the zeroed ``out``."""
    col = table.column(step.feature)
    p = step.params
    if step.kind in ("scale", "bucketize", "impute"):
        x = _numbers(col)
        x = np.where(np.isfinite(x), x, p["impute"])
        if step.kind == "scale":
            out[:, start] = (x - p["mean"]) / p["std"]
        elif step.kind == "bucketize":
            out[:, start] = np.searchsorted(np.asarray(p["boundaries"]), x, side="right")
        else:
            out[:, start] = x
        return
    strings = _strings(col)
    n = len(strings)
    rows = np.arange(n)
    if step.kind == "hash":
        uniques = pc.unique(pc.drop_null(strings))
        codes = np.array(
            [_stable_hash(str(v), p["buckets"]) for v in uniques.to_pylist()], dtype=np.int64
        )
        index = np.asarray(pc.fill_null(pc.index_in(strings, value_set=uniques), -1).to_numpy())
        present = index >= 0
        out[rows[present], start + codes[index[present]]] = 1.0
        return
    vocab = pa.array(p["vocabulary"], pa.string())
    index = np.asarray(pc.fill_null(pc.index_in(strings, value_set=vocab), -1).to_numpy())
    if step.kind == "ordinal":  # 0 is out-of-vocabulary (unseen or missing)
        out[:, start] = index + 1
        return
    size = len(p["vocabulary"])
    out[rows, start + np.where(index >= 0, index, size)] = 1.0
