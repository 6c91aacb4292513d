"""The HTML and terminal views of statistics show every feature and fetch nothing."""

from __future__ import annotations

import io
import re

import pyarrow as pa

from conveyor.data.model import StatisticsCollection
from conveyor.data.render import print_statistics, statistics_html
from conveyor.data.stats import compute_statistics


def _stats(shift: float = 0.0) -> StatisticsCollection:
    table = pa.table(
        {
            "age": [20.0 + shift, 30.0, 40.0, None],
            "sex": ["F", "M", "F", "F"],
            "<b>odd</b>": [1, 2, 3, 4],
            "empty": pa.nulls(4),
        }
    )
    return compute_statistics(table, slice_by=["sex"])


def test_statistics_html_shows_every_feature_and_is_self_contained() -> None:
    html = statistics_html(_stats())
    assert html.startswith("<!DOCTYPE html>") and html.endswith("</html>")
    for name in ("age", "sex", "empty", "sex=F", "sex=M"):
        assert name in html
    assert "&lt;b&gt;odd&lt;/b&gt;" in html and "<b>odd</b>" not in html  # escaped
    assert "<svg" in html and "missing 25.0%" in html
    assert not re.search(r"(https?:)?//[a-z]", html)  # no CDN, no external URL
    assert "<script" not in html and "<link" not in html


def test_statistics_html_puts_a_baseline_beside_the_data() -> None:
    html = statistics_html(_stats(shift=5.0), baseline=_stats())
    assert "baseline" in html
    assert html.count("<th>baseline</th>") == 3  # the split and its two slices
    assert "#f28e2b" in html  # the baseline's bars


def test_statistics_html_of_nothing() -> None:
    assert "No data sets" in statistics_html(StatisticsCollection())


def test_print_statistics_prints_a_table_per_data_set() -> None:
    from rich.console import Console

    out = io.StringIO()
    print_statistics(_stats(), Console(file=out, width=160))
    text = out.getvalue()
    assert "all: 4 rows" in text and "all / sex=F: 3 rows" in text
    for name in ("age", "sex", "empty", "FLOAT", "25.0%"):
        assert name in text
