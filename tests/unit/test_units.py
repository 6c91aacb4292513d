"""Memory sizes written as text (``_internal.units``)."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor._internal.units import parse_memory


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512Mi", 512 * 2**20),
        ("2Gi", 2 * 2**30),
        ("1G", 10**9),
        ("500M", 500 * 10**6),
        ("1024", 1024),
        (2048, 2048),
        ("1.5Gi", 3 * 2**29),
        (" 8k ", 8000),
    ],
)
def test_parse_memory_gives_bytes(text: Any, size: int) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize("text", ["2GB", "Gi", "1e9", "-5", "0Mi", True, None])
def test_parse_memory_rejects_what_it_cannot_read(text: Any) -> None:
    with pytest.raises(ValueError, match=r"[Mm]emory size"):
        parse_memory(text)
