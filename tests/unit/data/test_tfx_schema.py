"""TFDV's schema.pbtxt: read as a Conveyor schema, written back the same (as protobufs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.data.model import (
    DataSchema,
    DatasetConstraints,
    FeatureComparator,
    FeatureSchema,
    FeatureType,
)
from conveyor.data.schema import infer_schema, load_schema, save_schema
from conveyor.data.stats import compute_statistics
from conveyor.errors import ArtifactError

schema_pb2 = pytest.importorskip("tensorflow_metadata.proto.v0.schema_pb2")
text_format = pytest.importorskip("google.protobuf.text_format")

DATA = Path(__file__).resolve().parents[2] / "data"
TFDV_SCHEMA = DATA / "census_schema.pbtxt"  # written by tfdv.write_schema_text (see README)


def _proto(path: Path) -> object:
    return text_format.Parse(path.read_text(), schema_pb2.Schema())


def test_a_tfdv_schema_goes_to_yaml_and_back_to_the_same_protobuf(tmp_path: Path) -> None:
    schema = load_schema(TFDV_SCHEMA)
    save_schema(schema, tmp_path / "schema.yaml")
    assert "string_domains:" in (tmp_path / "schema.yaml").read_text()
    save_schema(load_schema(tmp_path / "schema.yaml"), tmp_path / "back.pbtxt")
    assert _proto(tmp_path / "back.pbtxt") == _proto(TFDV_SCHEMA)


def test_a_tfdv_schema_reads_as_the_conveyor_schema_it_means() -> None:
    schema = load_schema(TFDV_SCHEMA)
    assert len(schema.features) == 15
    age = schema.feature("age")
    assert age is not None and age.type == FeatureType.INT
    assert (age.min, age.max, age.min_fraction_present, age.min_count) == (17, 100, 1.0, 1)
    assert age.drift_comparator == FeatureComparator(jensen_shannon_divergence=0.05)
    workclass = schema.feature("workclass")  # a global string domain
    assert workclass is not None and workclass.domain == "workclass"
    assert workclass.values == schema.string_domains["workclass"]
    assert "Private" in (workclass.values or [])
    assert workclass.drift_comparator == FeatureComparator(infinity_norm=0.01)
    sex = schema.feature("sex")  # an inline string domain
    assert sex is not None and sex.domain is None and sex.values == ["Female", "Male"]
    occupation = schema.feature("occupation")  # sometimes missing: no min_fraction
    assert occupation is not None and occupation.min_fraction_present == 0.0
    assert occupation.value_count is not None and occupation.value_count.max == 1
    assert occupation.skew_comparator == FeatureComparator(infinity_norm=0.02)
    country = schema.feature("native_country")
    assert country is not None and country.min_fraction_present == 0.9
    label = schema.feature("income_gt_50k")
    assert label is not None and label.not_in_environments == ["SERVING"]
    assert label.type == FeatureType.INT and label.tfx == "bool_domain { }"
    assert schema.default_environments == ["TRAINING", "SERVING"]
    assert schema.dataset == DatasetConstraints(
        min_examples_count=1000, min_fraction_of_previous=0.8, max_fraction_of_previous=1.5
    )


def test_a_conveyor_schema_goes_to_pbtxt_and_back_unchanged(tmp_path: Path) -> None:
    inferred = infer_schema(
        compute_statistics(str(DATA / "penguins.csv")), split="all", infer_ranges=True
    )
    curated = DataSchema(
        features=[
            *inferred.features,
            FeatureSchema("flag", FeatureType.BOOL, min_fraction_present=0.5),
            FeatureSchema("when", FeatureType.TIMESTAMP, description="the time of the row"),
            FeatureSchema(
                "ratio",
                FeatureType.FLOAT,
                min=0.0,
                max=1.5,
                allow_nan=True,
                skew_comparator=FeatureComparator(
                    jensen_shannon_divergence=0.1, jsd_source="quantiles"
                ),
                drift_comparator=FeatureComparator(normalized_abs_difference=0.2),
                in_environments=["TRAINING"],
            ),
        ],
        dataset=DatasetConstraints(max_examples_count=10_000, min_fraction_of_previous=0.5),
        default_environments=["TRAINING", "SERVING"],
    )
    save_schema(curated, tmp_path / "schema.pbtxt")
    proto = _proto(tmp_path / "schema.pbtxt")  # TFDV's form: BOOL is BYTES with a bool_domain
    flag = next(f for f in proto.feature if f.name == "flag")  # type: ignore[attr-defined]
    assert flag.type == schema_pb2.BYTES and flag.HasField("bool_domain")
    back = load_schema(tmp_path / "schema.pbtxt")
    assert back == curated
    species = back.feature("species")
    assert species is not None and species.values == ["Adelie", "Chinstrap", "Gentoo"]


def test_a_schema_folder_of_tfx_holds_schema_pbtxt(tmp_path: Path) -> None:
    (tmp_path / "schema.pbtxt").write_text(TFDV_SCHEMA.read_text())
    assert len(load_schema(tmp_path).features) == 15


def test_a_broken_pbtxt_names_the_file_and_the_place(tmp_path: Path) -> None:
    path = tmp_path / "schema.pbtxt"
    path.write_text('feature {\n  name: "a"\n  type: WORDS\n}\n')
    with pytest.raises(ArtifactError, match=r"schema\.pbtxt.*not a valid TFDV schema.*3:9"):
        load_schema(path)


def test_what_tfdv_cannot_hold_is_refused_with_the_feature(tmp_path: Path) -> None:
    schema = DataSchema([FeatureSchema("code", FeatureType.INT, values=["1", "2"])])
    with pytest.raises(ArtifactError, match=r"'code': values on a INT feature"):
        save_schema(schema, tmp_path / "schema.pbtxt")
