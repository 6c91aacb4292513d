"""Infer a data schema from statistics, and read and write it as a curated YAML or JSON file."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any

from conveyor.data.model import (
    DataSchema,
    DatasetConstraints,
    DatasetStatistics,
    FeatureComparator,
    FeatureSchema,
    FeatureStatistics,
    FeatureType,
    StatisticsCollection,
)
from conveyor.data.tfx_schema import PBTXT_SUFFIXES, is_pbtxt, schema_from_pbtxt, schema_to_pbtxt
from conveyor.errors import ArtifactError

__all__ = ["infer_schema", "load_schema", "presence_floor", "save_schema", "select_split"]

DEFAULT_MAX_CATEGORICAL_VALUES = 100  # TFDV's max_string_domain_size

_HEADER = """\
# Conveyor data schema (format version {version}). Curate it, then pin it in your pipeline
# with import_schema_gen(schema_file=...) or pass it to `conveyor data validate --schema`.
#
# Per feature:
#   type: INT | FLOAT | STRING | BOOL | TIMESTAMP
#   min_fraction_present: fraction of rows that must have a value (0 = optional)
#   values: the allowed categories (leave out for free text)
#   min / max: the allowed numeric range (inclusive)
#   allow_nan: true to accept NaN in a FLOAT feature
#   drift_comparator / skew_comparator: thresholds versus the previous span / serving data,
#     with any of infinity_norm, jensen_shannon_divergence (+ jsd_source: quantiles|standard),
#     normalized_abs_difference
#   in_environments / not_in_environments: e.g. not_in_environments: [SERVING] for the label
# dataset: min_examples_count, max_examples_count, min_fraction_of_previous,
#   max_fraction_of_previous (row-count change versus the previous span)
# From a TFDV schema.pbtxt: string_domains (global domains, a feature's `domain` names one),
#   min_count, value_count, shape and `tfx` (other TFDV fields, kept for the way back to pbtxt)
"""


def select_split(stats: StatisticsCollection, split: str) -> DatasetStatistics:
    """The unsliced statistics of ``split``; the only data set when there is just one.

    Raises:
        ValueError: when ``split`` is absent, naming the splits that exist.

    Example:
        >>> select_split(StatisticsCollection([DatasetStatistics("train", 3)]), "train").num_rows
        3
    """
    found = stats.split(split)
    if found is not None:
        return found
    unsliced = [d for d in stats.datasets if d.slice is None]
    if len(unsliced) == 1:
        return unsliced[0]
    names = sorted({d.name for d in unsliced})
    raise ValueError(f"No statistics for split {split!r}; the statistics have splits {names!r}")


def presence_floor(fraction: float) -> float:
    """The inferred ``min_fraction_present`` of a feature observed in ``fraction`` of the rows.

    A feature always present is required (1.0). Otherwise the observed fraction less one
    percentage point, rounded down to the percent, so that sampling noise in the next data
    set does not raise LOW_FRACTION_PRESENT but a real drop does.

    Example:
        >>> presence_floor(1.0), presence_floor(0.943), presence_floor(0.005)
        (1.0, 0.93, 0.0)
    """
    if fraction >= 1.0:
        return 1.0
    return max(0.0, math.floor(round((fraction - 0.01) * 100, 6)) / 100)


def _domain(feature: FeatureStatistics, max_values: int) -> list[str] | None:
    s = feature.string
    if feature.type != FeatureType.STRING or s is None or feature.count <= 0:
        return None
    # every value when the statistics have them (up to 1,000), else the top values (older
    # statistics files): a domain is inferred only from a complete list
    values = s.known_values
    if not values or len(values) > max_values or s.unique > max_values:
        return None
    covered = sum(v.count for v in values)  # unweighted, as the feature's count
    if covered < feature.count * (1 - 1e-9):
        return None  # the top values are a truncated list: the domain would be incomplete
    if len(values) == feature.count and feature.count > 1:
        return None  # every value differs: an identifier or free text, not a category
    return sorted(v.value for v in values)


def infer_schema(
    stats: StatisticsCollection,
    *,
    split: str = "train",
    max_categorical_values: int = DEFAULT_MAX_CATEGORICAL_VALUES,
    infer_ranges: bool = False,
) -> DataSchema:
    """Infer a first schema from the statistics of one split, to curate and pin.

    Types come from the statistics; presence from the fraction of rows with a value (see
    :func:`presence_floor`); a string feature with at most ``max_categorical_values`` distinct
    values, all listed in its top values, gets them as its domain; with ``infer_ranges``
    numeric features get the observed min and max as their range. No drift or skew thresholds
    are inferred: add them while curating.

    Raises:
        ValueError: when ``split`` is not in the statistics.

    Example:
        >>> from conveyor.data.model import StringStatistics, ValueCount
        >>> f = FeatureStatistics("sex", FeatureType.STRING, 3, 1, string=StringStatistics(
        ...     2, [ValueCount("M", 2), ValueCount("F", 1)]))
        >>> s = infer_schema(StatisticsCollection([DatasetStatistics("train", 4, [f])]))
        >>> s.features[0].values, s.features[0].min_fraction_present
        (['F', 'M'], 0.74)
    """
    data = select_split(stats, split)
    features = []
    for f in data.features:
        fs = FeatureSchema(name=f.name, type=f.type)
        if data.num_rows > 0:
            fs.min_fraction_present = presence_floor(f.count / data.num_rows)
        fs.values = _domain(f, max_categorical_values)
        if f.numeric is not None:
            if infer_ranges:
                fs.min, fs.max = f.numeric.min, f.numeric.max
            if f.type == FeatureType.FLOAT and f.numeric.nan > 0:
                fs.allow_nan = True
        features.append(fs)
    return DataSchema(features=features)


def save_schema(schema: DataSchema, path: str | os.PathLike[str]) -> None:
    """Write ``schema`` to ``path``: TFDV's protobuf text format for ``.pbtxt`` (and
    ``.textproto``), JSON for ``.json``, else YAML with a curation guide.

    Unset fields are left out, so the file stays short.

    Example:
        >>> schema = DataSchema([FeatureSchema("age", FeatureType.INT)])
        >>> save_schema(schema, "schema.yaml")  # doctest: +SKIP
    """
    path = os.fspath(path)
    if path.lower().endswith(PBTXT_SUFFIXES):
        try:
            text = schema_to_pbtxt(schema)
        except ValueError as exc:
            raise ArtifactError(f"Cannot write {path!r} as a TFDV schema: {exc}") from None
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return
    data = _compact(schema.to_dict())
    if path.endswith(".json"):
        text = json.dumps(data, indent=2) + "\n"
    else:
        import yaml

        text = _HEADER.format(version=schema.version) + yaml.safe_dump(
            data, sort_keys=False, allow_unicode=True, width=100
        )
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _compact(value: Any) -> Any:
    """Drop ``False`` flags and the JSD source when no JSD threshold is set."""
    if isinstance(value, dict):
        out = {k: _compact(v) for k, v in value.items() if v is not False}
        if "jsd_source" in out and "jensen_shannon_divergence" not in out:
            del out["jsd_source"]
        return {k: v for k, v in out.items() if v != {} or k == "dataset"}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def _keys(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _check_mapping(value: Any, cls: type, where: str, required: tuple[str, ...] = ()) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(value).__name__}")
    unknown = sorted(set(value) - _keys(cls))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown!r}; allowed: {sorted(_keys(cls))!r}")
    for key in required:
        if key not in value:
            raise ValueError(f"{where}: missing required key {key!r}")


def _check_number(value: Any, where: str, *, unit: bool = False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: expected a number, got {value!r}")
    if unit and not 0 <= value <= 1:
        raise ValueError(f"{where}: expected a fraction between 0 and 1, got {value!r}")


def _check(data: Any) -> None:
    _check_mapping(data, DataSchema, "top level")
    features = data.get("features", [])
    if not isinstance(features, list):
        raise ValueError("features: expected a list of features")
    types = [t.value for t in FeatureType]
    seen: set[str] = set()
    for i, f in enumerate(features):
        where = f"features[{i}]"
        _check_mapping(f, FeatureSchema, where, required=("name", "type"))
        where = f"features[{i}] ({f['name']!r})"
        if f["name"] in seen:
            raise ValueError(f"{where}: feature declared twice")
        seen.add(f["name"])
        if f["type"] not in types:
            raise ValueError(f"{where}: type {f['type']!r} is not one of {types!r}")
        _check_number(f.get("min_fraction_present"), f"{where}.min_fraction_present", unit=True)
        _check_number(f.get("min"), f"{where}.min")
        _check_number(f.get("max"), f"{where}.max")
        values = f.get("values")
        if values is not None and not isinstance(values, list):
            raise ValueError(f"{where}.values: expected a list of categories, got {values!r}")
        for key in ("in_environments", "not_in_environments"):
            if f.get(key) is not None and not isinstance(f[key], list):
                raise ValueError(f"{where}.{key}: expected a list of names, got {f[key]!r}")
        for key in ("drift_comparator", "skew_comparator"):
            comp = f.get(key)
            if comp is None:
                continue
            _check_mapping(comp, FeatureComparator, f"{where}.{key}")
            for name in ("infinity_norm", "jensen_shannon_divergence", "normalized_abs_difference"):
                _check_number(comp.get(name), f"{where}.{key}.{name}", unit=True)
            if comp.get("jsd_source", "standard") not in ("quantiles", "standard"):
                raise ValueError(
                    f"{where}.{key}.jsd_source: expected 'quantiles' or 'standard', "
                    f"got {comp['jsd_source']!r}"
                )
    dataset = data.get("dataset", {})
    _check_mapping(dataset, DatasetConstraints, "dataset")
    for key, value in dataset.items():
        _check_number(value, f"dataset.{key}")


def load_schema(path: str | os.PathLike[str]) -> DataSchema:
    """Read a schema file (YAML, JSON for ``.json``, or a TFDV ``schema.pbtxt``) and check
    its shape.

    Raises:
        ArtifactError: naming the file and what is wrong (unreadable, not YAML/JSON, unknown
            key, bad type or value), so the user can fix it.

    Example:
        >>> schema = load_schema("schema.yaml")  # doctest: +SKIP
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        pbtxt = os.path.join(path, "schema.pbtxt")
        path = os.path.join(path, "schema.yaml")
        if not os.path.exists(path) and os.path.exists(pbtxt):
            path = pbtxt  # a TFX Schema artifact
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"Cannot read the schema file {path!r}: {exc}") from None
    if is_pbtxt(path, text):
        try:
            return schema_from_pbtxt(text)
        except ValueError as exc:
            raise ArtifactError(
                f"The schema file {path!r} is not a valid TFDV schema: {exc}"
            ) from None
    try:
        if path.endswith(".json"):
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # yaml.YAMLError or json.JSONDecodeError, with line numbers
        kind = "JSON" if path.endswith(".json") else "YAML"
        raise ArtifactError(f"The schema file {path!r} is not valid {kind}: {exc}") from exc
    if data is None:
        raise ArtifactError(f"The schema file {path!r} is empty; write one with infer_schema")
    try:
        _check(data)
        return DataSchema.from_dict(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise ArtifactError(f"Invalid schema file {path!r}: {exc}") from exc
