"""Quantities written as text in pipelines: memory sizes like ``"512Mi"`` or ``"2G"``."""

from __future__ import annotations

import re

__all__ = ["MEMORY_UNITS", "parse_memory"]

MEMORY_UNITS: dict[str, int] = {
    "": 1,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "P": 1000**5,
    "E": 1000**6,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
    "Pi": 1024**5,
    "Ei": 1024**6,
}
"""Suffixes of a memory size and their bytes: decimal (``G``) and binary (``Gi``), as Kubernetes."""

_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)")


def parse_memory(text: str | int) -> int:
    """The number of bytes in a memory size: ``"512Mi"``, ``"2Gi"``, ``"1G"``, ``"500M"``,
    ``"1.5Gi"``, or plain bytes (``"1024"`` or ``1024``).

    Raises:
        ValueError: the text is not a positive size with a known suffix; the message lists the
            suffixes.

    Example:
        >>> parse_memory("512Mi"), parse_memory("1G"), parse_memory("1024")
        (536870912, 1000000000, 1024)
    """
    if isinstance(text, bool) or not isinstance(text, int | str):
        raise ValueError(f"A memory size is a string like '512Mi' or '2G', got {text!r}")
    if isinstance(text, int):
        number, unit = float(text), ""
    else:
        match = _MEMORY.fullmatch(text.strip())
        if match is None or match.group(2) not in MEMORY_UNITS:
            suffixes = ", ".join(k for k in MEMORY_UNITS if k)
            raise ValueError(
                f"Memory size {text!r} is not understood. Write a number with an optional "
                f"suffix, e.g. '512Mi', '2Gi', '1G', '500M' or '1024' (bytes); suffixes are "
                f"{suffixes}"
            )
        number, unit = float(match.group(1)), match.group(2)
    size = round(number * MEMORY_UNITS[unit])
    if size <= 0:
        raise ValueError(f"Memory size {text!r} must be more than 0 bytes")
    return size
