"""Validation data for model selection, kept apart from the data the Evaluator judges.

Tuning and early stopping pick among models by a score; scored on the eval split, that score
and the Evaluator's blessing on the same split are optimistic (selection bias). So the Tuner
and the Trainer's early stopping score on data the Evaluator does not see:

* ``holdout`` (default): a validation part carved from the train split by a stable row hash
  (:func:`holdout_mask`): the same rows for the same data, whatever their order;
* ``cv``: k-fold cross-validation on the train split (:func:`cv_folds`), stratified for
  classification;
* ``split``: a split of the examples named for it (e.g. ExampleGen's ``validation``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from conveyor.data.splits import hash_rows

__all__ = [
    "VALIDATION_KINDS",
    "check_holdout",
    "check_validation",
    "cv_folds",
    "describe",
    "holdout_mask",
]

VALIDATION_KINDS = ("holdout", "cv", "split")

_SALT = np.uint64(0x5EED_0F_A11DA7E)
"""Re-mixes the row hash, so the carved part is independent of the train/eval assignment
(which used the same hash: unsalted, every train row would fall on the same side)."""


def check_validation(
    validation: str, fraction: float, folds: int, split: str | None, *, allow_cv: bool = True
) -> None:
    """Refuse an unknown validation kind or a bad fraction, fold count or split name.

    Raises:
        ValueError: naming the argument and what it accepts.
    """
    kinds = VALIDATION_KINDS if allow_cv else tuple(k for k in VALIDATION_KINDS if k != "cv")
    if validation not in kinds:
        raise ValueError(f"validation must be one of {list(kinds)}, got {validation!r}")
    if validation == "holdout" and not (
        isinstance(fraction, int | float) and not isinstance(fraction, bool) and 0 < fraction < 1
    ):
        raise ValueError(f"validation_fraction must be in (0, 1), got {fraction!r}")
    if validation == "cv" and (isinstance(folds, bool) or not isinstance(folds, int) or folds < 2):
        raise ValueError(f"cv_folds must be an integer >= 2, got {folds!r}")
    if validation == "split" and not split:
        raise ValueError("validation='split' needs validation_split, the split to score on")


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.asarray(x ^ (x >> np.uint64(31)))


def holdout_mask(table: pa.Table, fraction: float) -> np.ndarray:
    """Which rows of ``table`` form the validation part: about ``fraction`` of them, chosen by
    a stable hash of the whole row (the same rows for the same data, in any order).

    Example:
        >>> mask = holdout_mask(pa.table({"x": list(range(1000))}), 0.2)
        >>> 150 < int(mask.sum()) < 250
        True
    """
    with np.errstate(over="ignore"):
        mixed = _splitmix(hash_rows(table) ^ _SALT)
    uniform = (mixed >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
    return np.asarray(uniform < fraction)


def check_holdout(valid: np.ndarray, fraction: float, hint: str = "") -> None:
    """Refuse a holdout (a :func:`holdout_mask`) that leaves the fit part or the validation
    part empty; ``hint`` is appended to the message (what else the caller may use).

    Raises:
        ValueError: naming the fraction and how many train rows it carved.

    Example:
        >>> check_holdout(np.array([True, False]), 0.5)  # both parts have rows: no error
    """
    n_valid = int(valid.sum())
    if n_valid == 0 or n_valid == len(valid):
        raise ValueError(
            f"validation_fraction={fraction} carves {n_valid} of {len(valid)} train rows; "
            f"both parts need rows{hint}"
        )


def cv_folds(
    y: np.ndarray, folds: int, task: str, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``folds`` (fit rows, validation rows) index pairs over ``y``: stratified k-fold for
    classification, plain k-fold for regression, shuffled with ``seed``.

    Raises:
        ValueError: fewer rows than folds, or (classification) a class with fewer rows than
            folds, with what to change.
    """
    from sklearn.model_selection import KFold, StratifiedKFold  # type: ignore[import-untyped]

    if len(y) < folds:
        raise ValueError(f"cv_folds={folds} needs at least {folds} train rows, got {len(y)}")
    if task == "classification":
        counts = np.bincount(np.asarray(y, dtype=np.int64))
        present = counts[counts > 0]
        if present.min() < folds:
            raise ValueError(
                f"cv_folds={folds}: the rarest class has {int(present.min())} train rows, "
                f"fewer than the folds. Lower cv_folds or use validation='holdout'"
            )
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    else:
        splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
    x = np.zeros((len(y), 1))
    return [(np.asarray(a), np.asarray(b)) for a, b in splitter.split(x, y)]


def describe(
    validation: str, fraction: float, folds: int, split: str | None, train_split: str = "train"
) -> str:
    """How the validation data was made, for records and logs.

    Example:
        >>> describe("holdout", 0.2, 5, None)
        "20% of the 'train' split, by row hash"
    """
    if validation == "holdout":
        return f"{fraction:.0%} of the {train_split!r} split, by row hash"
    if validation == "cv":
        return f"{folds}-fold cross-validation on the {train_split!r} split"
    return f"the {split!r} split"
