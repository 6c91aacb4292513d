"""Span/version patterns resolve to the right files."""

from __future__ import annotations

import pytest

from conveyor.data.spans import has_placeholders, resolve_pattern
from conveyor.errors import ArtifactError


@pytest.fixture
def drops(tmp_path):
    for span, versions in {1: [1], 2: [1, 2], 10: [1]}.items():
        for v in versions:
            folder = tmp_path / f"span-{span}" / f"v{v}"
            folder.mkdir(parents=True)
            (folder / "data.csv").write_text(f"x\n{span}{v}\n")
    return str(tmp_path / "span-{SPAN}" / "v{VERSION}" / "*.csv")


def test_resolve_pattern_latest_span_is_numeric_not_lexical(drops):
    sel = resolve_pattern(drops)
    assert (sel.span, sel.version) == (10, 1)
    assert sel.files == [
        drops.replace("{SPAN}", "10").replace("{VERSION}", "1").replace("*", "data")
    ]


def test_resolve_pattern_explicit_span_takes_its_latest_version(drops):
    sel = resolve_pattern(drops, span=2)
    assert (sel.span, sel.version) == (2, 2)
    assert len(sel.files) == 1 and "/v2/" in sel.files[0]


def test_resolve_pattern_explicit_version(drops):
    assert resolve_pattern(drops, span=2, version=1).files[0].endswith("span-2/v1/data.csv")


def test_resolve_pattern_range_takes_each_span_latest_version(drops):
    sel = resolve_pattern(drops, span_range=(1, 2))
    assert sel.spans == {1: 1, 2: 2}
    assert sel.span == 2
    assert len(sel.files) == 2


def test_resolve_pattern_missing_span_lists_the_spans(drops):
    with pytest.raises(ArtifactError, match=r"Span 3 .*\[1, 2, 10\]"):
        resolve_pattern(drops, span=3)


def test_resolve_pattern_nothing_matches(tmp_path):
    with pytest.raises(ArtifactError, match="No file matches"):
        resolve_pattern(str(tmp_path / "span-{SPAN}" / "*.csv"))


def test_resolve_pattern_new_span_changes_the_selection(tmp_path):
    pattern = str(tmp_path / "day={SPAN}" / "*.csv")
    (tmp_path / "day=1").mkdir()
    (tmp_path / "day=1" / "a.csv").write_text("x\n1\n")
    assert resolve_pattern(pattern).span == 1
    (tmp_path / "day=2").mkdir()
    (tmp_path / "day=2" / "a.csv").write_text("x\n2\n")
    assert resolve_pattern(pattern).span == 2


def test_resolve_pattern_split_folders(tmp_path):
    for split in ("train", "eval"):
        (tmp_path / split).mkdir()
        (tmp_path / split / "a.csv").write_text("x\n1\n")
    sel = resolve_pattern(str(tmp_path / "{SPLIT}" / "*.csv"))
    assert sorted(sel.splits) == ["eval", "train"]
    assert sel.span is None


def test_resolve_pattern_repeated_placeholder_must_agree(tmp_path):
    for span in (1, 2):
        (tmp_path / f"s{span}").mkdir()
        (tmp_path / f"s{span}" / f"part-{span}.csv").write_text("x\n1\n")
    (tmp_path / "s2" / "part-1.csv").write_text("x\n1\n")
    sel = resolve_pattern(str(tmp_path / "s{SPAN}" / "part-{SPAN}.csv"))
    assert sel.files == [str(tmp_path / "s2" / "part-2.csv")]


def test_resolve_pattern_fsspec_memory_url():
    import fsspec

    for span in (3, 4):
        with fsspec.open(f"memory://cv-spans/span-{span}/a.csv", "w") as fh:
            fh.write("x\n1\n")
    sel = resolve_pattern("memory://cv-spans/span-{SPAN}/*.csv")
    assert sel.span == 4
    assert len(sel.files) == 1
    assert sel.files[0].startswith("memory://")
    assert sel.files[0].endswith("cv-spans/span-4/a.csv")


def test_has_placeholders():
    assert not has_placeholders("data/*.csv")
    assert has_placeholders("data/{SPLIT}/*.csv")
