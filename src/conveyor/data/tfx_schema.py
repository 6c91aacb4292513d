"""TFDV's ``schema.pbtxt`` (a ``tensorflow_metadata`` ``Schema`` in protobuf text format) to
Conveyor's :class:`~conveyor.data.model.DataSchema` and back, without TensorFlow.

What maps (both ways): features and their types (``BYTES`` is ``STRING``; ``BYTES`` with a
``bool_domain`` is ``BOOL``, with a ``time_domain`` ``TIMESTAMP``), presence (``min_fraction``,
``min_count``), ``value_count`` and ``shape``, inline string domains (``values``) and global
ones (``domain`` + ``string_domains``), ``int_domain`` / ``float_domain`` ranges,
``float_domain.disallow_nan`` (TFDV accepts NaN unless it is set; Conveyor's ``allow_nan`` is
its opposite), environments, drift and skew comparators (L-infinity, Jensen-Shannon with its
histogram source, normalized absolute difference) and dataset constraints. Any other field
is kept verbatim in the ``tfx`` text of its feature (or of the schema) and written back, so
``pbtxt -> DataSchema -> pbtxt`` gives the same protobuf.

Needs the ``tfx-schema`` extra (``tensorflow-metadata``, which brings ``protobuf``).

Example:
    >>> schema = schema_from_pbtxt('feature { name: "age" type: INT }')  # doctest: +SKIP
    >>> schema.features[0].type.value  # doctest: +SKIP
    'INT'
"""

from __future__ import annotations

import os
import re
import struct
from typing import Any

from conveyor.data.model import (
    DataSchema,
    DatasetConstraints,
    FeatureComparator,
    FeatureSchema,
    FeatureType,
    ValueCountRange,
)
from conveyor.errors import MissingExtraError

__all__ = ["PBTXT_SUFFIXES", "is_pbtxt", "schema_from_pbtxt", "schema_to_pbtxt"]

PBTXT_SUFFIXES = (".pbtxt", ".textproto", ".prototxt", ".pb.txt")
_PROTO_START = re.compile(
    r"^\s*(feature|string_domain|default_environment|dataset_constraints)\s*[:{]", re.M
)


def is_pbtxt(path: str, text: str | None = None) -> bool:
    """Whether ``path`` (with its ``text``) is a protobuf text schema: by suffix, or a file
    that is not ``.yaml``/``.yml``/``.json`` starting like one (``feature {``)."""
    lower = path.lower()
    if lower.endswith(PBTXT_SUFFIXES):
        return True
    if lower.endswith((".yaml", ".yml", ".json")) or text is None:
        return False
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return _PROTO_START.match(body) is not None


def _pb() -> tuple[Any, Any]:
    try:
        from google.protobuf import text_format
        from tensorflow_metadata.proto.v0 import schema_pb2
    except ImportError:
        raise MissingExtraError("tfx-schema", "tensorflow-metadata") from None
    return schema_pb2, text_format


# --- pbtxt -> DataSchema ----------------------------------------------------------------------


def schema_from_pbtxt(text: str) -> DataSchema:
    """The :class:`DataSchema` of a TFDV schema in protobuf text format.

    Raises:
        ValueError: the text is not a valid ``Schema`` (the parser's line and column), or
            uses a type Conveyor cannot check (``STRUCT``).
        MissingExtraError: ``tensorflow-metadata`` is not installed.
    """
    schema_pb2, text_format = _pb()
    proto = schema_pb2.Schema()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as exc:
        raise ValueError(f"not a TFDV schema in protobuf text format: {exc}") from None
    domains = {d.name: list(d.value) for d in proto.string_domain}
    for d in proto.string_domain:
        rest = schema_pb2.StringDomain()
        rest.CopyFrom(d)
        rest.ClearField("name")
        rest.ClearField("value")
        if rest.ListFields():
            raise ValueError(f"string_domain {d.name!r}: only name and value are supported")
    features = [_feature_from_proto(f, domains, schema_pb2, text_format) for f in proto.feature]
    rest = schema_pb2.Schema()
    rest.CopyFrom(proto)
    for name in ("feature", "string_domain", "default_environment"):
        rest.ClearField(name)
    dataset = _dataset_from_proto(rest.dataset_constraints)
    _clear_if_empty(rest, "dataset_constraints")
    return DataSchema(
        features=features,
        dataset=dataset,
        default_environments=list(proto.default_environment),
        string_domains=domains,
        tfx=text_format.MessageToString(rest, as_one_line=True),
    )


def _dataset_from_proto(dc: Any) -> DatasetConstraints:
    drift = dc.num_examples_drift_comparator
    out = DatasetConstraints(
        min_examples_count=_take(dc, "min_examples_count"),
        max_examples_count=_take(dc, "max_examples_count"),
        min_fraction_of_previous=_take(drift, "min_fraction_threshold"),
        max_fraction_of_previous=_take(drift, "max_fraction_threshold"),
    )
    _clear_if_empty(dc, "num_examples_drift_comparator")
    return out


def _feature_from_proto(f: Any, domains: dict[str, list[str]], pb: Any, tf: Any) -> FeatureSchema:
    rest = pb.Feature()
    rest.CopyFrom(f)
    kind = pb.FeatureType.Name(f.type) if f.HasField("type") else "TYPE_UNKNOWN"
    if kind in ("STRUCT", "TYPE_UNKNOWN"):
        raise ValueError(f"feature {f.name!r}: type {kind} has no Conveyor equivalent")
    ftype = {"INT": FeatureType.INT, "FLOAT": FeatureType.FLOAT}.get(kind, FeatureType.STRING)
    if kind == "BYTES" and f.HasField("bool_domain"):
        ftype = FeatureType.BOOL
        _clear_if_empty(rest, "bool_domain")
    if kind == "BYTES" and f.HasField("time_domain"):
        ftype = FeatureType.TIMESTAMP
        _clear_if_empty(rest, "time_domain")
    out = FeatureSchema(name=f.name, type=ftype, min_fraction_present=0.0)
    for name in ("name", "type", "in_environment", "not_in_environment"):
        rest.ClearField(name)
    if f.presence.HasField("min_fraction"):
        out.min_fraction_present = f.presence.min_fraction
        rest.presence.ClearField("min_fraction")
    if f.presence.HasField("min_count"):
        out.min_count = f.presence.min_count
        rest.presence.ClearField("min_count")
    _clear_if_empty(rest, "presence")
    if f.HasField("value_count"):
        out.value_count = ValueCountRange(
            f.value_count.min if f.value_count.HasField("min") else None,
            f.value_count.max if f.value_count.HasField("max") else None,
        )
        rest.ClearField("value_count")
    if f.HasField("shape") and all(not d.HasField("name") for d in f.shape.dim):
        out.shape = [d.size for d in f.shape.dim]
        rest.ClearField("shape")
    if f.HasField("domain"):
        out.domain = f.domain
        out.values = list(domains.get(f.domain, []))
        if f.domain not in domains:
            raise ValueError(f"feature {f.name!r}: domain {f.domain!r} is not a string_domain")
        rest.ClearField("domain")
    if f.HasField("string_domain"):
        out.values = list(f.string_domain.value)
        rest.string_domain.ClearField("value")
        _clear_if_empty(rest, "string_domain")
    for domain in ("int_domain", "float_domain"):
        if f.HasField(domain):
            d = getattr(rest, domain)
            for key in ("min", "max"):
                if d.HasField(key):
                    value = getattr(d, key)
                    setattr(out, key, value if domain == "int_domain" else _float32(value))
                    d.ClearField(key)
    if ftype == FeatureType.FLOAT:
        out.allow_nan = not f.float_domain.disallow_nan  # TFDV accepts NaN unless told not to
        rest.float_domain.ClearField("disallow_nan")
    for domain in ("int_domain", "float_domain"):
        _clear_if_empty(rest, domain)
    for key in ("drift_comparator", "skew_comparator"):
        if f.HasField(key):
            setattr(out, key, _comparator_from_proto(getattr(rest, key)))
            _clear_if_empty(rest, key)
    if f.in_environment:
        out.in_environments = list(f.in_environment)
    out.not_in_environments = list(f.not_in_environment)
    if len(f.annotation.comment) == 1:
        out.description = f.annotation.comment[0]
        rest.annotation.ClearField("comment")
        _clear_if_empty(rest, "annotation")
    out.tfx = tf.MessageToString(rest, as_one_line=True)
    return out


def _float32(value: float) -> float:
    """The shortest decimal of a ``float_domain`` bound (a 32-bit float in TFDV's schema):
    32.1, not 32.099998474121094; it reads back as the same 32-bit float."""
    exact = struct.unpack("f", struct.pack("f", value))[0]
    for digits in range(1, 10):
        short = float(f"{value:.{digits}g}")
        if struct.unpack("f", struct.pack("f", short))[0] == exact:
            return short
    return value


def _comparator_from_proto(c: Any) -> FeatureComparator:
    out = FeatureComparator()
    if c.infinity_norm.HasField("threshold"):
        out.infinity_norm = c.infinity_norm.threshold
        c.infinity_norm.ClearField("threshold")
    if c.jensen_shannon_divergence.HasField("threshold"):
        out.jensen_shannon_divergence = c.jensen_shannon_divergence.threshold
        c.jensen_shannon_divergence.ClearField("threshold")
        source = c.jensen_shannon_divergence.source
        if source.HasField("type"):
            kind = type(source).Type.Name(source.type)
            if kind in ("QUANTILES", "STANDARD"):
                out.jsd_source = kind.lower()
                if kind == "QUANTILES":
                    c.jensen_shannon_divergence.ClearField("source")
    if c.normalized_abs_difference.HasField("threshold"):
        out.normalized_abs_difference = c.normalized_abs_difference.threshold
        c.normalized_abs_difference.ClearField("threshold")
    for name in ("infinity_norm", "jensen_shannon_divergence", "normalized_abs_difference"):
        _clear_if_empty(c, name)
    return out


def _take(message: Any, name: str) -> Any:
    """The field's value, cleared from ``message`` (what is left is kept as ``tfx``); None
    when it is not set."""
    if not message.HasField(name):
        return None
    value = getattr(message, name)
    message.ClearField(name)
    return value


def _clear_if_empty(message: Any, name: str) -> None:
    if message.HasField(name) and not getattr(message, name).ListFields():
        message.ClearField(name)


# --- DataSchema -> pbtxt ----------------------------------------------------------------------


def schema_to_pbtxt(schema: DataSchema) -> str:
    """``schema`` as a TFDV schema in protobuf text format (what ``tfdv.load_schema_text``
    reads).

    Raises:
        ValueError: a value TFDV's schema cannot hold (a fractional range on an INT feature,
            categorical ``values`` on a number), naming the feature.
        MissingExtraError: ``tensorflow-metadata`` is not installed.
    """
    schema_pb2, text_format = _pb()
    proto = schema_pb2.Schema()
    if schema.tfx:
        text_format.Parse(schema.tfx, proto)
    for fs in schema.features:
        _feature_to_proto(fs, proto.feature.add(), schema, schema_pb2, text_format)
    for name, values in schema.string_domains.items():
        proto.string_domain.add(name=name, value=values)
    proto.default_environment.extend(schema.default_environments)
    ds = schema.dataset
    dc = proto.dataset_constraints
    if ds.min_examples_count is not None:
        dc.min_examples_count = ds.min_examples_count
    if ds.max_examples_count is not None:
        dc.max_examples_count = ds.max_examples_count
    if ds.min_fraction_of_previous is not None:
        dc.num_examples_drift_comparator.min_fraction_threshold = ds.min_fraction_of_previous
    if ds.max_fraction_of_previous is not None:
        dc.num_examples_drift_comparator.max_fraction_threshold = ds.max_fraction_of_previous
    _clear_if_empty(proto, "dataset_constraints")
    text: str = text_format.MessageToString(proto)
    return text


def _feature_to_proto(fs: FeatureSchema, f: Any, schema: DataSchema, pb: Any, tf: Any) -> None:
    where = f"feature {fs.name!r}"
    if fs.tfx:
        tf.Parse(fs.tfx, f)
    f.name = fs.name
    kind = {FeatureType.INT: "INT", FeatureType.FLOAT: "FLOAT"}.get(fs.type, "BYTES")
    f.type = pb.FeatureType.Value(kind)
    if fs.type == FeatureType.BOOL:
        f.bool_domain.SetInParent()
    if fs.type == FeatureType.TIMESTAMP:
        f.time_domain.SetInParent()
    if fs.min_fraction_present > 0:
        f.presence.min_fraction = fs.min_fraction_present
    if fs.min_count is not None:
        f.presence.min_count = fs.min_count
    if fs.value_count is not None:
        f.value_count.SetInParent()
        if fs.value_count.min is not None:
            f.value_count.min = fs.value_count.min
        if fs.value_count.max is not None:
            f.value_count.max = fs.value_count.max
    if fs.shape is not None:
        f.shape.SetInParent()
        for size in fs.shape:
            f.shape.dim.add(size=size)
    if fs.domain is not None and fs.domain in schema.string_domains:
        f.domain = fs.domain
    elif fs.values is not None:
        if fs.type != FeatureType.STRING:
            raise ValueError(f"{where}: values on a {fs.type.value} feature have no TFDV form")
        f.string_domain.value.extend(fs.values)
    if fs.min is not None or fs.max is not None:
        if fs.type == FeatureType.INT:
            for key in ("min", "max"):
                value = getattr(fs, key)
                if value is not None:
                    if value != int(value):
                        raise ValueError(f"{where}: {key} {value!r} is not an integer")
                    setattr(f.int_domain, key, int(value))
        elif fs.type == FeatureType.FLOAT:
            if fs.min is not None:
                f.float_domain.min = fs.min
            if fs.max is not None:
                f.float_domain.max = fs.max
        else:
            raise ValueError(f"{where}: a min/max range on a {fs.type.value} feature")
    if fs.type == FeatureType.FLOAT and not fs.allow_nan:
        f.float_domain.disallow_nan = True
    for key in ("drift_comparator", "skew_comparator"):
        comparator = getattr(fs, key)
        if comparator is not None:
            _comparator_to_proto(comparator, getattr(f, key))
    if fs.in_environments is not None:
        f.in_environment.extend(fs.in_environments)
    f.not_in_environment.extend(fs.not_in_environments)
    if fs.description:
        f.annotation.comment.append(fs.description)


def _comparator_to_proto(c: FeatureComparator, proto: Any) -> None:
    proto.SetInParent()
    if c.infinity_norm is not None:
        proto.infinity_norm.threshold = c.infinity_norm
    if c.jensen_shannon_divergence is not None:
        proto.jensen_shannon_divergence.threshold = c.jensen_shannon_divergence
        if c.jsd_source == "quantiles":
            source = proto.jensen_shannon_divergence.source
            source.type = type(source).Type.Value("QUANTILES")
    if c.normalized_abs_difference is not None:
        proto.normalized_abs_difference.threshold = c.normalized_abs_difference


def read_pbtxt(path: str | os.PathLike[str]) -> str:
    """The text of a schema file (UTF-8)."""
    with open(path, encoding="utf-8") as fh:
        return fh.read()
