"""Feature handling shared by the quickstart's steps (a local helper: part of their cache key)."""

from __future__ import annotations

import csv

NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
CATEGORICAL = ["island", "sex"]
LABEL = "species"


def read_rows(path: str) -> list[dict[str, str]]:
    """Rows of a CSV file as dictionaries."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_rows(path: str, rows: list[dict[str, str]], columns: list[str]) -> None:
    """Write rows as CSV with the given columns."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def complete(row: dict[str, str]) -> bool:
    """Whether a row has every feature and the label."""
    return all(row.get(c) not in (None, "", "NA") for c in [*NUMERIC, *CATEGORICAL, LABEL])
