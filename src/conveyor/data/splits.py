"""Deterministic split assignment: a stable 64-bit hash of a key column (or of the whole row).

The hash is defined here, in vectorised numpy over Arrow buffers, not borrowed from a library
whose hash may change between versions (polars documents that its ``hash`` is not stable), so
a row lands in the same split on every run, process, machine and library version.

* Integers, booleans, timestamps and integral floats hash their int64 value (so ``3`` and
  ``3.0`` agree); other floats hash their IEEE-754 bits (``-0.0`` as ``0.0``).
* Text hashes its UTF-8 bytes (polynomial hash mod 2**64, finished with splitmix64).
* A null hashes to a fixed constant; a row hash combines its columns sorted by name, so
  column order does not matter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["assign_splits", "hash_rows", "normalize_ratios", "split_table"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_NULL = np.uint64(0x6A09E667F3BCC909)
_POLY = np.uint64(0x100000001B3)
_DEFAULT_NAMES = ("train", "eval", "test")


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise (uint64 arithmetic wraps modulo 2**64)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    out: np.ndarray = z ^ (z >> np.uint64(31))
    return out


def _hash_strings(arr: pa.Array) -> np.ndarray:
    arr = pc.cast(arr, pa.large_binary()) if not pa.types.is_large_binary(arr.type) else arr
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data_buf = arr.buffers()[2]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8)[offsets[0] : offsets[-1]]
        if data_buf is not None
        else np.zeros(0, np.uint8)
    )
    lengths = np.diff(offsets)
    starts = offsets[:-1] - offsets[0]
    total = len(data)
    if total:
        max_len = int(lengths.max())
        powers = np.cumprod(np.full(max_len, _POLY, dtype=np.uint64), dtype=np.uint64)
        local = np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)
        terms = (data.astype(np.uint64) + np.uint64(1)) * powers[local]
        sums = np.concatenate([np.zeros(1, np.uint64), np.cumsum(terms, dtype=np.uint64)])
        poly = sums[starts + lengths] - sums[starts]
    else:
        poly = np.zeros(n, np.uint64)
    return _mix(poly ^ (lengths.astype(np.uint64) * _GOLDEN))


def _hash_array(arr: pa.Array) -> np.ndarray:
    t = arr.type
    if pa.types.is_dictionary(t):
        uniques = _hash_array(arr.dictionary)
        idx = arr.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        out = uniques[idx] if len(uniques) else np.zeros(len(arr), np.uint64)
    elif pa.types.is_floating(t):
        values = arr.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
        values = values + 0.0  # -0.0 -> 0.0
        with np.errstate(invalid="ignore"):
            integral = np.isfinite(values) & (np.floor(values) == values) & (np.abs(values) < 2**62)
        bits = values.view(np.uint64).copy()
        bits[integral] = values[integral].astype(np.int64).view(np.uint64)
        out = _mix(bits)
    elif pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_temporal(t):
        if pa.types.is_temporal(t):
            arr = arr if pa.types.is_timestamp(t) else arr.cast(pa.timestamp("us"))
            arr = arr.view(pa.int64())
        values = arr.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        out = _mix(values.astype(np.int64).view(np.uint64))
    else:
        # Categoricals repeat a few values: hash each distinct value once.
        encoded = pc.dictionary_encode(arr)
        if len(encoded.dictionary) * 2 < len(arr):
            return _hash_array(encoded)
        out = _hash_strings(pc.cast(arr, pa.large_string()) if not _is_binary(t) else arr)
    if arr.null_count:
        out = np.where(arr.is_null().to_numpy(zero_copy_only=False), _NULL, out)
    return out


def _is_binary(t: pa.DataType) -> bool:
    return bool(pa.types.is_binary(t) or pa.types.is_large_binary(t))


def hash_rows(table: pa.Table, columns: Sequence[str] | None = None) -> np.ndarray:
    """A stable uint64 hash per row of ``table``, over ``columns`` (default: all, by name).

    Example:
        >>> h = hash_rows(pa.table({"id": [1, 2, 1]}))
        >>> bool(h[0] == h[2]) and bool(h[0] != h[1])
        True
    """
    names = sorted(table.column_names) if columns is None else list(columns)
    missing = [c for c in names if c not in table.column_names]
    if missing:
        raise ValueError(
            f"Cannot hash by columns {missing!r}: the table has {table.column_names!r}"
        )
    out = np.full(table.num_rows, _GOLDEN, dtype=np.uint64)
    for i, name in enumerate(names):
        col = table.column(name).combine_chunks()
        if isinstance(col, pa.ChunkedArray):  # pragma: no cover - pyarrow < 15 shape
            col = pa.concat_arrays(col.chunks)
        salt = np.uint64(i + 1) * _POLY
        out = _mix(out ^ (_hash_array(col) + salt))
    return out


def normalize_ratios(ratios: Mapping[str, float] | Sequence[float]) -> dict[str, float]:
    """``{"train": 0.8, "eval": 0.2}`` from a mapping or a list (named train, eval, test).

    Raises:
        ValueError: a ratio is negative, the ratios do not sum to 1, or there are none.

    Example:
        >>> normalize_ratios([0.7, 0.2, 0.1])
        {'train': 0.7, 'eval': 0.2, 'test': 0.1}
    """
    if isinstance(ratios, Mapping):
        named = {str(k): float(v) for k, v in ratios.items()}
    else:
        values = list(ratios)
        if not 1 <= len(values) <= len(_DEFAULT_NAMES):
            raise ValueError(
                f"split_ratios {values!r}: give 1 to 3 numbers (train, eval, test) or a mapping"
            )
        named = dict(zip(_DEFAULT_NAMES, (float(v) for v in values), strict=False))
    if not named or any(v < 0 for v in named.values()):
        raise ValueError(f"split_ratios {named!r}: give non-negative ratios, e.g. train 0.8")
    total = sum(named.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"split_ratios {named!r} sum to {total:g}: make them sum to 1")
    return named


def assign_splits(hashes: np.ndarray, ratios: Mapping[str, float]) -> np.ndarray:
    """The index (into ``ratios``' order) of each hash's split.

    The top 53 bits of the hash are a uniform number in [0, 1), compared with the cumulative
    ratios: adding a split at the end or changing the last ratio moves as few rows as possible.

    Example:
        >>> assign_splits(hash_rows(pa.table({"x": list(range(1000))})), {"a": 0.5, "b": 0.5}).max()
        np.int64(1)
    """
    uniform = (hashes >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
    bounds = np.cumsum(list(ratios.values()))[:-1]
    return np.searchsorted(bounds, uniform, side="right").astype(np.int64)


def split_table(
    table: pa.Table,
    ratios: Mapping[str, float] | Sequence[float],
    *,
    key: str | Sequence[str] | None = None,
) -> dict[str, pa.Table]:
    """Split ``table`` by a stable hash of the ``key`` column(s), or of the whole row.

    Rows with the same key always land in the same split, whatever the row order.

    Example:
        >>> parts = split_table(pa.table({"x": list(range(100))}), {"train": 0.8, "eval": 0.2})
        >>> sum(t.num_rows for t in parts.values())
        100
    """
    named = normalize_ratios(ratios)
    columns = [key] if isinstance(key, str) else (list(key) if key is not None else None)
    which = assign_splits(hash_rows(table, columns), named)
    return {name: table.filter(pa.array(which == i)) for i, name in enumerate(named)}
