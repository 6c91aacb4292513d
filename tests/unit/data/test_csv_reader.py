"""The one CSV reader: example_gen (read_table) and the ``conveyor data`` commands
(compute_statistics) read a file the same way, with the options real files need."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from conveyor.data.csv_options import CsvHeaderWarning, CsvOptions
from conveyor.data.io import feature_types, read_table
from conveyor.data.model import FeatureType
from conveyor.data.stats import compute_statistics
from conveyor.errors import ArtifactError

GERMAN = Path(__file__).resolve().parents[2] / "data" / "german_credit_head.data"

ADULT_NAMES = ["age", "workclass", "fnlwgt", "education", "sex", "hours", "income"]
ADULT_ROWS = (  # the UCI adult.data layout: no header, ", " between fields, "?" if missing
    "39, State-gov, 77516, Bachelors, Male, 40, <=50K\n"
    "50, Self-emp-not-inc, 83311, Bachelors, Male, 13, <=50K\n"
    "38, ?, 215646, HS-grad, Male, 40, <=50K\n"
    "53, Private, 234721, 11th, Male, ?, <=50K\n"
    "28, Private, 338409, Bachelors, Female, 40, <=50K\n"
    "37, Private, 284582, Masters, Female, 40, >50K\n"
)
ADULT = CsvOptions.create(header=False, column_names=ADULT_NAMES, delimiter=", ", null_values=["?"])


def _stats_types(path: Path, options: CsvOptions | None = None) -> dict[str, FeatureType]:
    ds = compute_statistics(str(path), csv=options).datasets[0]
    return {f.name: f.type for f in ds.features}


def test_headerless_adult_style_file_reads_the_same_in_example_gen_and_the_cli(
    tmp_path: Path,
) -> None:
    path = tmp_path / "adult.data"
    path.write_text(ADULT_ROWS)
    table = read_table(str(path), format="csv", csv=ADULT)
    assert table.column_names == ADULT_NAMES and table.num_rows == 6
    assert table.column("workclass").to_pylist()[:3] == ["State-gov", "Self-emp-not-inc", None]
    assert table.column("hours").to_pylist()[3] is None
    types = {k: v for k, v in feature_types(table.schema).items()}
    assert types["age"] == types["hours"] == FeatureType.INT
    ds = compute_statistics(str(path), csv=ADULT, format="csv").datasets[0]
    assert {f.name: f.type for f in ds.features} == types
    workclass = ds.feature("workclass")
    assert workclass is not None and workclass.missing == 1
    assert workclass.string is not None
    assert {v.value for v in workclass.string.top_values} == {
        "State-gov",
        "Self-emp-not-inc",
        "Private",
    }


def test_numbers_with_spaces_and_codes_with_zeros_type_the_same_on_both_paths(
    tmp_path: Path,
) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b,code\n 39, Private,00123\n 50, State-gov,00124\n7, x,12\n")
    expected = {"a": FeatureType.INT, "b": FeatureType.STRING, "code": FeatureType.STRING}
    assert feature_types(read_table(str(path)).schema) == expected
    assert _stats_types(path) == expected


def test_unknown_extension_is_refused_the_same_way_by_both_paths(tmp_path: Path) -> None:
    path = tmp_path / "d.data"
    path.write_text("a,b\n1,2\n")
    for read in (lambda: read_table(str(path)), lambda: compute_statistics(str(path))):
        with pytest.raises(ValueError, match=r"d\.data.*format.*--format"):
            read()
    ds = compute_statistics(str(path), format="csv").datasets[0]
    assert ds.num_rows == 1


def test_a_headerless_file_read_with_a_header_warns_on_both_paths() -> None:
    for read in (
        lambda: read_table(str(GERMAN), format="csv", csv=CsvOptions(delimiter=" ")),
        lambda: compute_statistics(str(GERMAN), format="csv", csv=CsvOptions(delimiter=" ")),
    ):
        with (
            pytest.warns(CsvHeaderWarning, match=r"german_credit_head\.data: line 1.*header=False"),
            pytest.raises(
                ArtifactError, match=r"line 1: the header names columns \['1', '4'\] more"
            ),
        ):
            read()


def test_real_headerless_space_separated_file_reads_with_generated_names() -> None:
    options = CsvOptions.create(header=False, delimiter="space")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CsvHeaderWarning)
        table = read_table(str(GERMAN), format="csv", csv=options)
        ds = compute_statistics(str(GERMAN), format="csv", csv=options).datasets[0]
    assert table.num_rows == ds.num_rows == 40
    assert table.column_names[:3] == ["f0", "f1", "f2"] and len(table.column_names) == 21
    assert table.column("f0").to_pylist()[0] == "A11"
    types = feature_types(table.schema)
    assert types["f1"] == types["f4"] == FeatureType.INT  # duration, credit amount
    assert {f.name: f.type for f in ds.features} == types


def test_names_repeated_as_values_warn_as_a_header_that_looks_like_data(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("yes,red\nno,blue\nyes,red\n")
    with pytest.warns(CsvHeaderWarning, match="occur again as values"):
        read_table(str(path))


def test_skip_rows_comments_and_replaced_header(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("exported 2024-01-01\nx,y\n# a comment\n1,a\n#2,b\n3,c\n")
    options = CsvOptions.create(skip_rows=1, comment="#", column_names=["n", "s"])
    table = read_table(str(path), csv=options)
    assert table.to_pydict() == {"n": [1, 3], "s": ["a", "c"]}
    ds = compute_statistics(str(path), csv=options).datasets[0]
    assert ds.num_rows == 2 and [f.name for f in ds.features] == ["n", "s"]


@pytest.mark.parametrize("read", ["read_table", "compute_statistics"])
def test_latin1_file_fails_with_the_line_and_the_encoding_option(tmp_path: Path, read: str) -> None:
    path = tmp_path / "names.csv"
    path.write_bytes("name,city\nAnn,Paris\nJos\xe9,K\xf6ln\n".encode("latin-1"))
    reader = read_table if read == "read_table" else compute_statistics
    with pytest.raises(
        ArtifactError, match=r"names\.csv: line 3: .*not valid utf-8.*encoding='latin-1'"
    ):
        reader(str(path))
    table = read_table(str(path), csv=CsvOptions.create(encoding="latin-1"))
    assert table.column("name").to_pylist() == ["Ann", "José"]
    ds = compute_statistics(str(path), csv=CsvOptions.create(encoding="latin-1")).datasets[0]
    city = ds.feature("city")
    assert city is not None and city.string is not None
    assert {v.value for v in city.string.top_values} == {"Paris", "Köln"}


@pytest.mark.parametrize("read", ["read_table", "compute_statistics"])
def test_binary_garbage_is_refused_as_binary_with_file_and_line(tmp_path: Path, read: str) -> None:
    path = tmp_path / "blob.csv"
    path.write_bytes(b"a,b\n1,2\n\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff")
    reader = read_table if read == "read_table" else compute_statistics
    with pytest.raises(ArtifactError, match=r"blob\.csv: line 5 \(byte \d+\): .*binary") as err:
        reader(str(path))
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_a_16_mib_field_is_read_on_both_paths(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("a,b\n1," + "x" * (16 << 20) + "\n2,y\n")
    table = read_table(str(path))
    assert table.column("a").to_pylist() == [1, 2]
    assert len(table.column("b")[0].as_py()) == 16 << 20
    assert compute_statistics(str(path)).datasets[0].num_rows == 2


def test_later_ranges_are_typed_like_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import conveyor.data.csv_reader as reader_module

    monkeypatch.setattr(reader_module, "RANGE_BYTES", 64)
    path = tmp_path / "late.csv"
    rows = [
        f"{i},{i % 3 == 0},2024-01-{1 + i % 28:02d},2024/03/{1 + i % 28:02d},v{i}"
        for i in range(300)
    ]
    rows[250] = "2.5,false,2024/02/03,2024/03/01,w"  # a float, and a date in another format
    path.write_text("n,flag,day,slashed,s\n" + "\n".join(rows) + "\n")
    whole = feature_types(read_table(str(path)).schema)
    assert whole == {
        "n": FeatureType.FLOAT,
        "flag": FeatureType.BOOL,
        "day": FeatureType.STRING,  # two date formats in one column: text
        "slashed": FeatureType.TIMESTAMP,
        "s": FeatureType.STRING,
    }
    assert _stats_types(path) == whole
    ds = compute_statistics(str(path)).datasets[0]
    n = ds.feature("n")
    assert n is not None and n.count == 300 and n.numeric is not None and n.numeric.max == 299


def test_options_are_checked_with_what_to_give_instead() -> None:
    with pytest.raises(ValueError, match="one character"):
        CsvOptions.create(delimiter="::")
    with pytest.raises(ValueError, match="Unknown encoding"):
        CsvOptions.create(encoding="latin-9000")
    with pytest.raises(ValueError, match="distinct"):
        CsvOptions.create(column_names=["a", "a"])
    assert CsvOptions.create(delimiter="\\t").delimiter == "\t"
