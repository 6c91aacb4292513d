"""Where tabular sources are and what format they hold: the files a path, glob or fsspec URL
stands for, and a file's format by its extension.

Apart from :mod:`conveyor.data.io` (which re-exports these names) because it imports no Arrow:
``example_gen`` resolves its input files on every run, cached or not, to fingerprint them.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence

from conveyor._internal.paths import is_remote
from conveyor.errors import ArtifactError

__all__ = ["FORMATS", "detect_format", "expand_paths"]

FORMATS = ("csv", "parquet", "jsonl")
"""The file formats :func:`conveyor.data.io.read_table` reads (``format="auto"`` picks one by
extension)."""

_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_COMPRESSIONS = (".gz", ".bz2", ".zst", ".lz4")


# --- locating files ---------------------------------------------------------------------------


def expand_paths(source: str | Sequence[str]) -> list[str]:
    """The files a path, glob pattern or fsspec URL (or a list of them) stands for, sorted.

    A folder stands for the files in it (hidden files and ``_SUCCESS``-style markers skipped).

    Raises:
        ArtifactError: when nothing matches.

    Example:
        >>> expand_paths("data/*.csv")  # doctest: +SKIP
        ['data/a.csv', 'data/b.csv']
    """
    sources = [source] if isinstance(source, str) else list(source)
    found: list[str] = []
    for src in sources:
        matches = _expand_one(src)
        if not matches:
            raise ArtifactError(
                f"No input file matches {src!r} (working directory {os.getcwd()!r}). "
                "Check the path or glob pattern, or give an fsspec URL such as 's3://bucket/*.csv'"
            )
        found.extend(matches)
    return found


def _expand_one(src: str) -> list[str]:
    if is_remote(src):
        import fsspec

        fs, path = fsspec.core.url_to_fs(src)
        if glob.has_magic(path):
            paths = fs.glob(path)
        elif fs.isdir(path):
            paths = fs.find(path)
        elif fs.exists(path):
            paths = [path]
        else:
            paths = []
        files = [p for p in paths if not fs.isdir(p) and _is_data_file(p)]
        return sorted(fs.unstrip_protocol(p) for p in files)
    src = src.removeprefix("file://")
    if glob.has_magic(src):
        paths = glob.glob(src, recursive=True)
    elif os.path.isdir(src):
        paths = [os.path.join(root, f) for root, _, files in os.walk(src) for f in files]
    else:
        paths = [src] if os.path.exists(src) else []
    return sorted(p for p in paths if os.path.isfile(p) and _is_data_file(p))


def _is_data_file(path: str) -> bool:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return not name.startswith((".", "_"))


def detect_format(path: str, format: str = "auto") -> str:
    """``csv``, ``parquet`` or ``jsonl`` for ``path`` (by extension when ``format`` is auto).

    Raises:
        ValueError: when the format is unknown or cannot be told from the extension.

    Example:
        >>> detect_format("data/part-0.parquet")
        'parquet'
    """
    if format != "auto":
        fmt = {"json": "jsonl", "ndjson": "jsonl", "tsv": "csv"}.get(format.lower(), format.lower())
        if fmt not in FORMATS:
            raise ValueError(f"Unknown format {format!r}: use 'auto' or one of {FORMATS!r}")
        return fmt
    name = path.lower()
    for comp in _COMPRESSIONS:
        name = name.removesuffix(comp)
    ext = os.path.splitext(name)[1]
    if ext not in _EXTENSIONS:
        raise ValueError(
            f"Cannot tell the format of {path!r} from its extension {ext!r}: pass format= one "
            f"of {FORMATS!r} (--format on the command line), e.g. format='csv' for a text file"
        )
    return _EXTENSIONS[ext]
