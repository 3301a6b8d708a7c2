"""The one rule for floats reportgen derives (means, standard deviations, roll-ups): correctly rounded
sums, then DIGITS significant digits, so that a numpy or pandas release cannot change a page byte.

Logged values are never touched: they are shown and exported exactly as stored (shortest round-trip
repr). Only what reportgen computes from them goes through here.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

# Two libraries that sum in a different order agree to ~15 digits; 12 leaves room and is still far more
# than a page shows (6 in tables, 4 in tooltips).
DIGITS = 12


def settle(value: float) -> float:
    """A derived float rounded to DIGITS significant digits; NaN and infinities as they are."""
    return float(f"{value:.{DIGITS}g}") if math.isfinite(value) else value


def settled(values: Iterable[float]) -> np.ndarray:
    """settle() over an array (or column) of derived floats."""
    return np.array([settle(v) for v in np.asarray(values, dtype="float64").tolist()], dtype="float64")


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1) of the values that are not NaN, from exactly rounded
    sums, settled; as pandas: NaN std below two values, an infinite mean with an infinity among them."""
    finite = [v for v in np.asarray(values, dtype="float64").tolist() if not math.isnan(v)]
    if not finite:
        return math.nan, math.nan
    if not all(map(math.isfinite, finite)):
        return sum(finite) / len(finite), math.nan
    mean = math.fsum(finite) / len(finite)
    if len(finite) < 2:
        return settle(mean), math.nan
    variance = math.fsum((v - mean) * (v - mean) for v in finite) / (len(finite) - 1)
    return settle(mean), settle(math.sqrt(variance))
