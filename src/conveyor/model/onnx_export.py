"""ONNX export of a saved model, its bundled transform included, and the parity check of the
export against the model itself.

The exported graph takes the model's raw inputs, one ``[N, 1]`` tensor per signature input:
numbers as ``double`` (booleans as 0/1, timestamps as Unix seconds, NaN for missing) and
strings as ``string`` (``""`` for missing, which reads as out of vocabulary). It applies the
transform's steps (``scale``, ``impute``, ``bucketize``, ``onehot``, ``ordinal``) as ONNX
operators, then the estimator converted by skl2onnx (scikit-learn) or onnxmltools
(LightGBM, XGBoost). Outputs: ``prediction`` (the label value, or the regression value)
and, for classifiers, ``probabilities`` (``[N, classes]`` in the model's class order).

What cannot be exported raises :class:`~conveyor.errors.ArtifactError` saying why: a
``hash`` step (its BLAKE2 hash has no ONNX operator), a ``preprocessing_fn`` (Python code),
or an estimator no converter supports. onnx, onnxruntime, skl2onnx and onnxmltools are the
optional extra ``conveyor-ml[onnx]``, imported only here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from conveyor.errors import ArtifactError, MissingExtraError
from conveyor.model.saved import LoadedModel
from conveyor.model.transform import FeatureStep, _numbers

__all__ = ["ONNX_FILE", "OPSET", "Parity", "check_parity", "export_onnx", "onnx_inputs"]

ONNX_FILE = "model.onnx"
OPSET = 15
"""The default-domain opset of every export (what onnxmltools converts to at most)."""
ML_OPSET = 3
_SUPPORTED = ("scale", "impute", "bucketize", "onehot", "ordinal")
_STRING_TYPES = ("STRING", "BYTES")


def _require() -> None:
    for module in ("onnx", "onnxruntime", "skl2onnx", "onnxmltools"):
        try:
            __import__(module)
        except ImportError:
            raise MissingExtraError("onnx", module) from None


def _unsupported(model: LoadedModel) -> str | None:
    """Why the model's transform cannot be written as ONNX operators (None: it can)."""
    transform = model.transform
    if transform.preprocessing_fn is not None:
        return (
            f"the transform runs the Python function {transform.preprocessing_fn!r}, which "
            "ONNX cannot express; add those features to the data instead to export"
        )
    hashed = [s.feature for s in transform.steps if s.kind not in _SUPPORTED]
    if hashed:
        return (
            f"feature(s) {hashed!r} are hash-encoded (BLAKE2, no ONNX operator); encode them "
            "with 'onehot' or 'ordinal' (TransformOptions.encodings) to export"
        )
    if model.manifest.framework not in ("sklearn", "lightgbm", "xgboost"):
        return (
            f"the estimator is a {model.manifest.framework!r} model; ONNX export supports "
            "scikit-learn, LightGBM and XGBoost estimators"
        )
    return None


class _Graph:
    """Nodes and constants of the transform part, written with ``onnx.helper``."""

    def __init__(self) -> None:
        from onnx import helper

        self.helper = helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0

    def name(self, hint: str) -> str:
        self._n += 1
        return f"cv_{hint}_{self._n}"

    def const(self, value: Any, hint: str = "c") -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, domain: str = "", **attrs: Any) -> str:
        out = self.name(hint)
        self.nodes.append(
            self.helper.make_node(op_type, inputs, [out], domain=domain or None, **attrs)
        )
        return out


def _step(g: _Graph, step: FeatureStep, x: str) -> str:
    """The ``[N, k]`` double columns of ``step`` computed from the raw input ``x``."""
    p = step.params
    if step.kind in ("scale", "impute", "bucketize"):
        bad = g.op("Or", [g.op("IsNaN", [x], "nan"), g.op("IsInf", [x], "inf")], "bad")
        filled = g.op("Where", [bad, g.const(np.float64(p["impute"])), x], "filled")
        if step.kind == "scale":
            centred = g.op("Sub", [filled, g.const(np.float64(p["mean"]))], "centred")
            return g.op("Div", [centred, g.const(np.float64(p["std"]))], "scaled")
        if step.kind == "impute":
            return filled
        bounds = np.asarray(p["boundaries"], dtype=np.float64).reshape(1, -1)
        if bounds.size == 0:
            return g.op("Sub", [filled, filled], "bucket")
        above = g.op("GreaterOrEqual", [filled, g.const(bounds)], "above")
        counts = g.op("Cast", [above], "above_f", to=11)
        axes = g.const(np.array([1], dtype=np.int64))
        return g.op("ReduceSum", [counts, axes], "bucket", keepdims=1)
    vocab = [str(v) for v in p["vocabulary"]]
    size = len(vocab)
    oov = -1 if step.kind == "ordinal" else size
    index = g.op(
        "LabelEncoder", [x], "index", domain="ai.onnx.ml",
        keys_strings=vocab or [""], values_int64s=list(range(size)) or [oov],
        default_int64=oov,
    )  # fmt: skip
    if step.kind == "ordinal":  # 0 is out of vocabulary, as in the transform
        shifted = g.op("Add", [index, g.const(np.int64(1))], "ordinal")
        return g.op("Cast", [shifted], "ordinal_f", to=11)
    slots = g.const(np.arange(size + 1, dtype=np.int64).reshape(1, -1))
    return g.op("Cast", [g.op("Equal", [index, slots], "hot")], "onehot", to=11)


def _estimator_graph(model: LoadedModel, width: int) -> Any:
    """The estimator as an ONNX model at :data:`OPSET`, input ``features`` (float [N, width]),
    outputs label (class index) / variable, and probabilities for classifiers."""
    from onnx import version_converter

    framework = model.manifest.framework
    classifier = model.manifest.task == "classification"
    try:
        if framework == "sklearn":
            import skl2onnx
            from skl2onnx.common.data_types import FloatTensorType

            converted = skl2onnx.convert_sklearn(
                model.estimator,
                initial_types=[("features", FloatTensorType([None, width]))],
                options={"zipmap": False} if classifier else None,
                target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
            )
        else:
            import onnxmltools
            from onnxmltools.convert.common.data_types import FloatTensorType as MlFloat

            types = [("features", MlFloat([None, width]))]
            if framework == "lightgbm":
                converted = onnxmltools.convert_lightgbm(
                    model.estimator.booster, initial_types=types, zipmap=False,
                    target_opset=OPSET,
                )  # fmt: skip
            else:
                converted = onnxmltools.convert_xgboost(
                    model.estimator, initial_types=types, target_opset=OPSET
                )
    except Exception as exc:  # the converters raise bare RuntimeError/KeyError/NotImplemented
        raise ArtifactError(
            f"The {framework} estimator {type(model.estimator).__name__} of {model.path!r} "
            f"cannot be converted to ONNX: {type(exc).__name__}: {_first_line(exc)}"
        ) from exc
    default = next((o.version for o in converted.opset_import if o.domain in ("", "ai.onnx")), 0)
    if default and default != OPSET:
        converted = version_converter.convert_version(converted, OPSET)
    return converted


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else "no message"


def export_onnx(model: LoadedModel) -> bytes:
    """The ONNX model (serialised) computing ``model``'s predictions from its raw inputs.

    Raises:
        ArtifactError: the transform or the estimator cannot be exported (the message says
            which part and why, and how to make it exportable).
        MissingExtraError: the ``onnx`` extra is not installed.

    Example:
        >>> data = export_onnx(conveyor.load_model("models:/census@champion"))  # doctest: +SKIP
    """
    _require()
    import onnx
    from onnx import TensorProto, helper

    reason = _unsupported(model)
    if reason is not None:
        raise ArtifactError(f"The model at {model.path!r} cannot be exported to ONNX: {reason}")
    g = _Graph()
    inputs = []
    for name, type_ in model.transform.inputs.items():
        elem = TensorProto.STRING if type_ in _STRING_TYPES else TensorProto.DOUBLE
        inputs.append(helper.make_tensor_value_info(name, elem, [None, 1]))
    columns = [_step(g, step, step.feature) for step in model.transform.steps]
    joined = g.op("Concat", columns, "joined", axis=1) if len(columns) > 1 else columns[0]
    est = onnx.compose.add_prefix(
        _estimator_graph(model, len(model.transform.output_names)), "est_"
    )
    g.nodes.append(
        helper.make_node("Cast", [joined], [est.graph.input[0].name], to=TensorProto.FLOAT)
    )
    head, g.nodes = g.nodes, []
    classes = model.classes
    first = est.graph.output[0].name
    flat = g.op("Reshape", [first, g.const(np.array([-1], dtype=np.int64))], "flat")
    if classes is not None:
        table = np.asarray(classes, dtype=object if isinstance(classes[0], str) else None)
        names = g.const(table, "classes")
        g.nodes.append(helper.make_node("Gather", [names, flat], ["prediction"]))
        g.nodes.append(helper.make_node("Identity", [est.graph.output[1].name], ["probabilities"]))
        kind = helper.np_dtype_to_tensor_dtype(table.dtype)
        outputs = [
            helper.make_tensor_value_info("prediction", kind, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, len(classes)]),
        ]
    else:
        g.nodes.append(helper.make_node("Cast", [flat], ["prediction"], to=TensorProto.DOUBLE))
        outputs = [helper.make_tensor_value_info("prediction", TensorProto.DOUBLE, [None])]
    graph = helper.make_graph(
        [*head, *est.graph.node, *g.nodes],
        "conveyor_model",
        inputs,
        outputs,
        initializer=[*g.inits, *est.graph.initializer],
    )
    ml = max([ML_OPSET, *(o.version for o in est.opset_import if o.domain == "ai.onnx.ml")])
    exported = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ml)],
        producer_name="conveyor",
        ir_version=8,
    )
    onnx.checker.check_model(exported, full_check=True)
    return bytes(exported.SerializeToString())


def onnx_inputs(model: LoadedModel, table: pa.Table) -> dict[str, np.ndarray]:
    """The feed of an exported model for the rows of ``table`` (raw columns, by input name).

    Example:
        >>> session.run(None, onnx_inputs(model, eval_rows))  # doctest: +SKIP
    """
    feed: dict[str, np.ndarray] = {}
    for name, type_ in model.transform.inputs.items():
        if name not in table.column_names:
            raise ArtifactError(f"The rows lack the model input {name!r}")
        col = table.column(name)
        if type_ in _STRING_TYPES:
            text = pc.fill_null(pc.cast(col, pa.string()), "")
            feed[name] = np.asarray(text.to_pylist(), dtype=object).reshape(-1, 1)
        else:
            feed[name] = _numbers(col).reshape(-1, 1)
    return feed


@dataclass(frozen=True)
class Parity:
    """How close the export's answers are to the model's on the same rows.

    ``max_abs_diff``: the largest difference of a class probability (classifiers) or of a
    predicted value (regressors); ``max_rel_diff``: for regressors the largest difference
    relative to the value's size (``|a - b| / max(1, |b|)``: ONNX runs in float32, about 7
    significant digits, so a value of 4,000 may differ by 0.004), for classifiers the same
    as ``max_abs_diff``. ``label_agreement``: the share of rows with the same predicted label, a
    row where the model's own top probabilities tie within ``tolerance`` agreeing with
    either (1.0 for regressors); ``passed``: ``max_rel_diff`` within ``tolerance`` and the
    agreement at least ``min_agreement``.
    """

    rows: int
    max_abs_diff: float
    max_rel_diff: float
    label_agreement: float
    tolerance: float
    min_agreement: float
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the keys the exporter records, prefixed ``parity_``)."""
        return {f"parity_{k}": getattr(self, k) for k in self.__dataclass_fields__}


def check_parity(
    model: LoadedModel,
    data: bytes,
    table: pa.Table,
    *,
    tolerance: float = 1e-4,
    min_agreement: float = 0.999,
) -> Parity:
    """Run the export ``data`` with onnxruntime on ``table`` and compare it with ``model``.

    Example:
        >>> check_parity(model, export_onnx(model), eval_rows).passed  # doctest: +SKIP
        True
    """
    import onnxruntime

    if table.num_rows == 0:
        raise ArtifactError("The parity check needs at least one row; the split is empty")
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # converters declare shapes ORT warns about; not errors
    session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    got = dict(
        zip(
            [o.name for o in session.get_outputs()],
            session.run(None, onnx_inputs(model, table)),
            strict=True,
        )
    )
    expected, proba = model.predict_scores(table)
    if model.classes is None:
        gap = np.abs(np.asarray(got["prediction"], np.float64) - expected)
        diff = float(np.max(gap))
        rel = float(np.max(gap / np.maximum(1.0, np.abs(expected))))
        agreement = 1.0
    else:
        labels = np.asarray(model.classes, dtype=object)[expected]
        same = np.asarray(got["prediction"], dtype=object) == labels
        if proba is not None:  # a tie (within tolerance) in the model's own scores may go
            index = {c: i for i, c in enumerate(model.classes)}  # either way
            chosen = np.array([index.get(v, -1) for v in got["prediction"].tolist()])
            score = np.where(chosen >= 0, proba[np.arange(len(chosen)), chosen], -np.inf)
            same |= score >= proba.max(axis=1) - tolerance
        agreement = float(np.mean(same))
        diff = (
            0.0
            if proba is None
            else float(np.max(np.abs(np.asarray(got["probabilities"], np.float64) - proba)))
        )
        rel = diff
    passed = math.isfinite(rel) and rel <= tolerance and agreement >= min_agreement
    return Parity(table.num_rows, diff, rel, agreement, tolerance, min_agreement, passed)
