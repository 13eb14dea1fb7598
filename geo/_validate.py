"""Argument checks shared by the coverage modules (arrays, thresholds)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["as_1d", "check_thresholds", "threshold_tag"]


def as_1d(values: object, name: str, *, dtype: type | str = float) -> np.ndarray:
    """``values`` as a 1-D array of ``dtype``; TypeError/ValueError naming ``name``."""
    try:
        arr = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a 1-D numeric array, got {type(values).__name__}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}; flatten it (.ravel())")
    return arr


def check_thresholds(thresholds_min: Sequence[float]) -> list[float]:
    """Positive, finite, distinct minutes, sorted; ValueError otherwise."""
    values = [float(t) for t in thresholds_min]
    if not values or any(not np.isfinite(t) or t <= 0 for t in values):
        raise ValueError(
            f"thresholds_min must be positive finite minutes, got {tuple(thresholds_min)!r}"
        )
    if len(set(values)) != len(values):
        raise ValueError(f"thresholds_min has duplicates: {tuple(thresholds_min)!r}")
    return sorted(values)


def threshold_tag(t: float) -> str:
    """A threshold in a column name: ``120`` -> ``"120"``, ``1.5`` -> ``"1_5"``."""
    return f"{t:g}".replace(".", "_")
