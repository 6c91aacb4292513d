"""The saved-model format: a folder with ``conveyor_model.json``, the estimator and its transform.

Layout::

    <model>/conveyor_model.json   manifest: framework (+ version), task, label, classes,
                                  signature (inputs with logical types, outputs), files
    <model>/transform/transform.json   the fitted preprocessing (see conveyor.model.transform)
    <model>/model.json | model.txt | model.pkl   XGBoost JSON, LightGBM text, or a pickle
                                  (scikit-learn and custom estimators)
    <model>/conveyor_examples.json   a few training rows as a request sends them (optional,
                                  see conveyor.model.examples)

:func:`load_model` returns a :class:`LoadedModel` that applies the bundled transform before
predicting, so serving computes exactly the features training saw.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from conveyor.data.model import DataSchema
from conveyor.errors import ArtifactError
from conveyor.model.rows import as_table
from conveyor.model.transform import FittedTransform, load_transform

__all__ = [
    "MANIFEST_FILE",
    "LoadedModel",
    "ModelManifest",
    "check_signature",
    "load_model",
    "manifest_json",
    "save_model",
]

MANIFEST_FILE = "conveyor_model.json"
FORMAT_VERSION = 1
TRANSFORM_DIR = "transform"
_FILES = {"xgboost": "model.json", "lightgbm": "model.txt"}


@dataclass(frozen=True)
class ModelManifest:
    """What ``conveyor_model.json`` records about a saved model."""

    framework: str
    framework_version: str
    task: str
    label: str
    signature: dict[str, Any]  # {"inputs": [{"name", "type"}], "outputs": [...]}
    classes: list[Any] | None
    model_file: str
    features: list[str]
    version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _framework_of(estimator: Any) -> str:
    root = type(estimator).__module__.split(".")[0]
    return root if root in ("sklearn", "xgboost", "lightgbm") else "custom"


def _version(framework: str) -> str:
    dist = {"sklearn": "scikit-learn"}.get(framework, framework)
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def save_model(
    path: str,
    estimator: Any,
    transform: FittedTransform,
    *,
    task: str,
    label: str,
    classes: Sequence[Any] | None = None,
    schema: DataSchema | None = None,
    examples: Any = None,
) -> ModelManifest:
    """Save a fitted ``estimator`` with its ``transform`` as a Conveyor model folder.

    The estimator is fitted on ``transform``'s outputs; for classification it predicts class
    indices into ``classes`` (``predict_proba`` columns are in that order). With the
    training ``schema``, a string input whose schema pins a domain records its ``values`` in
    the signature (``conveyor serve`` refuses requests outside it). With training rows as
    ``examples`` (what ``predict`` takes), the first few that fit the signature are kept as
    the model's example rows (``conveyor smoke-test`` sends them to a deployed server).

    Example:
        >>> save_model(model.path, clf, fitted, task="classification", label="species",
        ...            classes=["Adelie", "Chinstrap", "Gentoo"])  # doctest: +SKIP
    """
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    if task == "classification" and not classes:
        raise ValueError("A classifier needs its classes (the label values, in index order)")
    os.makedirs(path, exist_ok=True)
    framework = _framework_of(estimator)
    model_file = _FILES.get(framework, "model.pkl")
    target = os.path.join(path, model_file)
    if framework == "xgboost":
        estimator.save_model(target)
    elif framework == "lightgbm":
        estimator.booster_.save_model(target)
    else:
        with open(target, "wb") as fh:
            pickle.dump(estimator, fh, protocol=pickle.HIGHEST_PROTOCOL)
    transform.save(os.path.join(path, TRANSFORM_DIR))
    outputs: list[dict[str, Any]] = [{"name": "prediction", "type": "STRING"}]
    if task == "classification":
        kinds = {type(c).__name__ for c in classes or []}
        outputs[0]["type"] = (
            "INT" if kinds <= {"int"} else "BOOL" if kinds == {"bool"} else "STRING"
        )
        outputs.append({"name": "probabilities", "type": "FLOAT", "shape": [len(classes or [])]})
    else:
        outputs[0]["type"] = "FLOAT"
    manifest = ModelManifest(
        framework=framework,
        framework_version=_version(framework),
        task=task,
        label=label,
        signature={
            "inputs": [_input(k, v, schema) for k, v in transform.inputs.items()],
            "outputs": outputs,
        },
        classes=list(classes) if classes is not None else None,
        model_file=model_file,
        features=transform.output_names,
    )
    with open(os.path.join(path, MANIFEST_FILE), "w", encoding="utf-8") as fh:
        json.dump(manifest.to_dict(), fh, indent=1, default=_json_default)
    if examples is not None:
        _keep_examples(path, examples, manifest.signature["inputs"])
    return manifest


def _keep_examples(path: str, data: Any, inputs: Sequence[Mapping[str, Any]]) -> None:
    """Write the first training rows that fit the signature as the model's example rows."""
    from conveyor.model.examples import example_rows, write_examples

    write_examples(path, example_rows(data, inputs))


def _input(name: str, type_: str, schema: DataSchema | None) -> dict[str, Any]:
    """A signature input, with the schema's domain of a categorical string when it has one."""
    item: dict[str, Any] = {"name": name, "type": type_}
    feature = None if schema is None else schema.feature(name)
    if feature is not None and feature.values is not None and type_ == "STRING":
        item["values"] = list(feature.values)
    return item


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def check_signature(signature: Mapping[str, Any], schema: DataSchema, path: str) -> None:
    """Refuse a ``schema`` that the model at ``path`` (with ``signature``) was not trained for.

    Raises:
        ArtifactError: a signature input is absent from ``schema`` or has another type.
    """
    problems = []
    for item in signature["inputs"]:
        feature = schema.feature(item["name"])
        if feature is None:
            problems.append(f"{item['name']!r} is not in the schema")
        elif str(feature.type) != item["type"]:
            problems.append(
                f"{item['name']!r} is {item['type']} in the model, {feature.type} in the schema"
            )
    if problems:
        raise ArtifactError(
            f"The model at {path!r} does not match the schema: {'; '.join(problems)}. "
            "Retrain the model on data of this schema, or use the schema it was trained with"
        )


class _LightGBMBooster:
    """A LightGBM booster read from text, with the scikit-learn predict methods."""

    def __init__(self, file: str, task: str) -> None:
        import lightgbm

        self.booster = lightgbm.Booster(model_file=file)
        self.task = task

    def predict(self, x: np.ndarray) -> np.ndarray:
        raw = np.asarray(self.booster.predict(x))
        if self.task == "regression":
            return raw
        return np.asarray(np.argmax(self.predict_proba(x), axis=1))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        raw = np.asarray(self.booster.predict(x))
        return raw if raw.ndim == 2 else np.column_stack([1 - raw, raw])


class LoadedModel:
    """A saved model ready to predict on raw rows (the bundled transform is applied).

    Example:
        >>> model = load_model("artifacts/.../model")  # doctest: +SKIP
        >>> model.predict([{"island": "Biscoe", "bill_length_mm": 45.1, ...}])  # doctest: +SKIP
        array(['Gentoo'], dtype='<U9')
    """

    def __init__(self, path: str, manifest: ModelManifest, estimator: Any, transform: Any):
        self.path = path
        self.manifest = manifest
        self.estimator = estimator
        self.transform: FittedTransform = transform

    @property
    def classes(self) -> list[Any] | None:
        """The label values, in the order of ``predict_proba`` columns (classifiers)."""
        return self.manifest.classes

    @property
    def signature(self) -> dict[str, Any]:
        """Inputs (name, logical type) and outputs of the model."""
        return self.manifest.signature

    def check_schema(self, schema: DataSchema) -> None:
        """Refuse a schema the model was not trained for.

        Raises:
            ArtifactError: a signature input is absent from ``schema`` or has another type.
        """
        check_signature(self.signature, schema, self.path)

    def _matrix(self, data: Any) -> np.ndarray:
        table = as_table(data)
        return self.transform.matrix(table)

    def predict(self, data: Any) -> np.ndarray:
        """Predictions for ``data``: a pyarrow Table, a pandas or polars DataFrame, a dict of
        columns or a list of row dicts (NaN and None are missing values).

        Classifiers return label values (from :attr:`classes`), regressors numbers.

        Raises:
            InputError: ``data`` is of another kind, or a column mixes types.
        """
        x = self._matrix(data)
        if self.manifest.task == "regression":
            return np.asarray(self.estimator.predict(x), dtype=np.float64)
        index = np.asarray(self.estimator.predict(x)).astype(np.int64)
        return np.asarray(self.classes, dtype=object)[index]

    def predict_scores(self, data: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """What :meth:`predict` and :meth:`predict_proba` give, from one pass of the transform:
        regression values or class indices into :attr:`classes`, and the class probabilities
        (None for regressors and classifiers without ``predict_proba``)."""
        return self.matrix_scores(self._matrix(data))

    def matrix_scores(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """What :meth:`predict_scores` gives, for features the bundled transform already made
        (``self.transform.matrix(...)``, or the same from :mod:`conveyor.model.columns`)."""
        if self.manifest.task == "regression":
            return np.asarray(self.estimator.predict(x), dtype=np.float64), None
        if not hasattr(self.estimator, "predict_proba"):
            return np.asarray(self.estimator.predict(x)).astype(np.int64), None
        proba = np.asarray(self.estimator.predict_proba(x), dtype=np.float64)
        if isinstance(self.estimator, _LightGBMBooster):  # its predict is this argmax
            return np.argmax(proba, axis=1).astype(np.int64), proba
        return np.asarray(self.estimator.predict(x)).astype(np.int64), proba

    def predict_proba(self, data: Any) -> np.ndarray:
        """Class probabilities (rows x classes, in :attr:`classes` order) for classifiers."""
        if self.manifest.task != "classification" or not hasattr(self.estimator, "predict_proba"):
            raise TypeError(
                f"The model at {self.path!r} is a {self.manifest.task} model without "
                "predict_proba; call predict"
            )
        return np.asarray(self.estimator.predict_proba(self._matrix(data)), dtype=np.float64)

    def __repr__(self) -> str:
        m = self.manifest
        return f"LoadedModel({m.framework} {m.task}, label={m.label!r}, path={self.path!r})"


def manifest_json(path: str) -> dict[str, Any]:
    """The model folder's manifest as plain JSON without loading the model; ``{}`` when it
    is missing or unreadable (:func:`load_model` says why)."""
    try:
        with open(os.path.join(path, MANIFEST_FILE), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_model(uri: Any, *, schema: DataSchema | None = None) -> LoadedModel:
    """Load a model saved by the Trainer (a folder, or a ``Model`` artifact).

    Args:
        uri: the model folder, or a ``Model`` artifact (its ``path``, or its local ``uri``).
        schema: when given, the model is refused unless its signature matches it.

    Raises:
        ArtifactError: not a Conveyor model, an unreadable file, or a signature mismatch.

    Example:
        >>> import conveyor
        >>> ref = result.outputs("trainer").artifacts["model"]  # doctest: +SKIP
        >>> model = conveyor.load_model(ref)  # doctest: +SKIP
        >>> model.predict({"bill_length_mm": [39.1], ...})  # doctest: +SKIP
    """
    path = str(getattr(uri, "path", None) or getattr(uri, "uri", None) or uri)
    if path.startswith("file://"):
        path = path[len("file://") :]
    file = os.path.join(path, MANIFEST_FILE)
    try:
        with open(file, encoding="utf-8") as fh:
            data = json.load(fh)
        manifest = ModelManifest(**data)
    except FileNotFoundError as exc:
        raise ArtifactError(
            f"{path!r} is not a Conveyor model: it has no {MANIFEST_FILE}. Save models with "
            "the trainer component or conveyor.model.save_model"
        ) from exc
    except (OSError, ValueError, TypeError) as exc:
        raise ArtifactError(f"Cannot read the model manifest {file!r}: {exc}") from exc
    if manifest.version != FORMAT_VERSION:
        raise ArtifactError(
            f"Model {path!r} has format version {manifest.version}; this Conveyor reads "
            f"version {FORMAT_VERSION}"
        )
    estimator = _load_estimator(path, manifest)
    model = LoadedModel(
        path, manifest, estimator, load_transform(os.path.join(path, TRANSFORM_DIR))
    )
    if schema is not None:
        model.check_schema(schema)
    return model


def _load_estimator(path: str, manifest: ModelManifest) -> Any:
    file = os.path.join(path, manifest.model_file)
    try:
        if manifest.framework == "xgboost":
            import xgboost

            cls = (
                xgboost.XGBClassifier if manifest.task == "classification" else xgboost.XGBRegressor
            )
            estimator = cls()
            estimator.load_model(file)
            return estimator
        if manifest.framework == "lightgbm":
            return _LightGBMBooster(file, manifest.task)
        with open(file, "rb") as fh:
            return pickle.load(fh)
    except ImportError as exc:
        raise ArtifactError(
            f"Model {path!r} needs {manifest.framework} {manifest.framework_version}: {exc}"
        ) from exc
    except (OSError, pickle.UnpicklingError, ValueError) as exc:
        raise ArtifactError(f"Cannot read the estimator {file!r}: {exc}") from exc
