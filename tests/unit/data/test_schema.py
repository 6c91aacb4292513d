"""Schema inference from statistics, and the schema file: YAML/JSON round trip and errors."""

from __future__ import annotations

import pytest

from conveyor.data.model import (
    DataSchema,
    DatasetStatistics,
    FeatureComparator,
    FeatureSchema,
    FeatureStatistics,
    FeatureType,
    NumericStatistics,
    StatisticsCollection,
    StringStatistics,
    ValueCount,
)
from conveyor.data.schema import infer_schema, load_schema, presence_floor, save_schema
from conveyor.errors import ArtifactError


def categorical(name: str, counts: dict[str, int], missing: int = 0) -> FeatureStatistics:
    top = [ValueCount(v, c) for v, c in sorted(counts.items(), key=lambda kv: -kv[1])]
    return FeatureStatistics(
        name, FeatureType.STRING, sum(counts.values()), missing,
        string=StringStatistics(unique=len(counts), top_values=top),
    )  # fmt: skip


def numeric(name: str, lo: float, hi: float, *, ftype=FeatureType.INT, missing=0, nan=0, n=100):
    return FeatureStatistics(
        name, ftype, n - missing, missing, numeric=NumericStatistics(min=lo, max=hi, nan=nan)
    )


def stats(*features: FeatureStatistics, rows: int = 100, split: str = "train"):
    return StatisticsCollection([DatasetStatistics(split, rows, list(features))])


def test_infer_schema_takes_types_presence_domains_and_optional_ranges():
    collection = stats(
        numeric("age", 17, 90),
        numeric("score", 0.5, 2.5, ftype=FeatureType.FLOAT, missing=6, nan=2),
        categorical("sex", {"M": 60, "F": 40}),
        categorical("name", {f"n{i}": 1 for i in range(100)}),
    )
    schema = infer_schema(collection)
    by_name = {f.name: f for f in schema.features}
    assert by_name["age"].type == FeatureType.INT and by_name["age"].min is None
    assert by_name["age"].min_fraction_present == 1.0
    assert by_name["score"].min_fraction_present == 0.93  # 94% seen, less a point
    assert by_name["score"].allow_nan
    assert by_name["sex"].values == ["F", "M"]
    assert by_name["name"].values is None  # every value differs: not a category
    ranged = infer_schema(collection, infer_ranges=True).feature("age")
    assert ranged is not None and (ranged.min, ranged.max) == (17, 90)


def test_infer_schema_leaves_out_domains_too_large_or_truncated():
    big = categorical("city", {f"c{i}": 3 for i in range(30)})
    truncated = categorical("job", {"a": 50, "b": 30})
    truncated.count = 100  # 20 values are not in the top values
    schema = infer_schema(stats(big, truncated), max_categorical_values=20)
    assert [f.values for f in schema.features] == [None, None]


def test_infer_schema_names_the_splits_when_the_split_is_missing():
    two = StatisticsCollection([DatasetStatistics("a", 1), DatasetStatistics("b", 1)])
    with pytest.raises(ValueError, match=r"split 'train'.*\['a', 'b'\]"):
        infer_schema(two)


@pytest.mark.parametrize(
    ("fraction", "expected"), [(1.0, 1.0), (0.999, 0.98), (0.943, 0.93), (0.5, 0.49), (0.0, 0.0)]
)
def test_presence_is_the_observed_fraction_less_a_point_rounded_down(fraction, expected):
    assert presence_floor(fraction) == expected


@pytest.mark.parametrize("name", ["schema.yaml", "schema.json"])
def test_schema_round_trips_through_yaml_and_json(tmp_path, name):
    schema = DataSchema(
        [
            FeatureSchema("age", FeatureType.INT, min=0, max=120,
                          drift_comparator=FeatureComparator(jensen_shannon_divergence=0.01)),
            FeatureSchema("label", FeatureType.INT, not_in_environments=["SERVING"]),
            FeatureSchema("sex", FeatureType.STRING, 0.9, values=["F", "M"],
                          skew_comparator=FeatureComparator(infinity_norm=0.1)),
        ],
        default_environments=["TRAINING", "SERVING"],
    )  # fmt: skip
    path = tmp_path / name
    save_schema(schema, path)
    assert load_schema(path) == schema


def test_yaml_schema_is_short_and_explains_how_to_curate_it(tmp_path):
    path = tmp_path / "schema.yaml"
    save_schema(DataSchema([FeatureSchema("age", FeatureType.INT)]), path)
    text = path.read_text()
    assert text.startswith("# Conveyor data schema")
    assert "min_fraction_present" in text  # the guide and the field
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    for unset in ("null", "allow_nan", "jsd_source", "values", "[]"):
        assert unset not in body


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("features: [name: x", "not valid YAML"),
        ("", "empty"),
        ("- 1\n- 2\n", "top level: expected a mapping"),
        ("features:\n- name: age\n", "features[0]: missing required key 'type'"),
        ("features:\n- {name: age, type: NUMBER}\n", "type 'NUMBER' is not one of"),
        ("features:\n- {name: age, type: INT, minn: 3}\n", "unknown key(s) ['minn']"),
        ("features:\n- {name: age, type: INT, min_fraction_present: 2}\n", "between 0 and 1"),
        ("features:\n- {name: a, type: INT}\n- {name: a, type: INT}\n", "declared twice"),
        (
            "features:\n- {name: a, type: INT, drift_comparator: {jsd_source: x}}\n",
            "jsd_source",
        ),
        ("dataset: {min_examples_count: many}\n", "dataset.min_examples_count"),
    ],
)
def test_a_broken_schema_file_names_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "schema.yaml"
    path.write_text(content)
    with pytest.raises(ArtifactError) as err:
        load_schema(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_a_missing_schema_file_is_an_artifact_error(tmp_path):
    with pytest.raises(ArtifactError, match="Cannot read the schema file"):
        load_schema(tmp_path / "nope.yaml")
