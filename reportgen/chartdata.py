"""Data for chart specs: metric histories split into series, JSON-safe values, text safe inside Vega,
labels, downsampling, numeric columns. Pure helpers of reportgen.charts; no Altair here.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from reportgen.histories import downsample_series


def finite_or_none(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value


# Vega-Lite copies titles (and sort arrays) into Vega expression strings; Vega's expression parser
# rejects raw U+2028/2029 there, so one hostile metric key would break its chart. Other controls would
# hide or reorder text (bidi overrides, zero-width): they are shown as visible [U+XXXX] marks instead.
_LINE_BREAKS = re.compile("[\u2028\u2029\r\n\t\x0b\x0c]")
_INVISIBLE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def clean_text(text: str) -> str:
    """A string safe to show in a chart: no line separators, control or bidi characters hidden in it."""
    if text.isprintable():  # every character the patterns replace is unprintable (Cc, Cf, Zl, Zp, Cn)
        return text
    text = _LINE_BREAKS.sub(" ", text)
    return _INVISIBLE.sub(lambda m: f"[U+{ord(m.group(0)):04X}]", text)


def json_safe(obj: Any) -> Any:
    """Deep copy with NaN/inf as None, numpy scalars as Python ones and every string cleaned."""
    if isinstance(obj, dict):
        return {clean_text(str(k)): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, str):
        return clean_text(obj)
    return finite_or_none(obj)


def unique_labels(ids: Sequence[str], labels: Mapping[str, str]) -> dict[str, str]:
    """A display label per id, disambiguated with the id (8 characters, else whole) when names repeat."""
    base = {i: (labels.get(i) or str(i)[:8]) for i in ids}
    by_label: dict[str, list[str]] = {}
    for i in ids:
        by_label.setdefault(base[i], []).append(i)
    out: dict[str, str] = {}
    for label, members in by_label.items():
        if len(members) == 1:
            out[members[0]] = label
            continue
        short = len({str(i)[:8] for i in members}) == len(members)
        for i in members:
            out[i] = f"{label} ({str(i)[:8] if short else i})"
    seen: set[str] = set()
    for i in ids:  # a run literally named like another's disambiguated label
        while out[i] in seen:
            out[i] += "\u2032"
        seen.add(out[i])
    return out


def downsample_indices(values: np.ndarray, budget: int) -> np.ndarray:
    """Indices to keep of one series of chart points (in step order): at most `budget`, the first, the
    last, the min and the max kept (a loss spike stays visible) and a NaN in every gap that survives.
    histories.downsample_series over the positions: one downsampler for charts and frames."""
    values = np.asarray(values, dtype="float64")
    return downsample_series(np.arange(len(values), dtype="float64"), values, max(int(budget), 1))


@dataclass(frozen=True)
class Series:
    """The points of one run's metric, ordered by step then timestamp."""

    run_id: str
    key: str
    step: np.ndarray  # int64
    timestamp: np.ndarray  # int64, ms
    value: np.ndarray  # float64


def split_history(history: pd.DataFrame) -> dict[str, dict[str, Series]]:
    """run_id -> key -> its Series, runs and keys in the order sort_values gives (sort_codes), in one
    pass over a long frame (columns run_id, key, step, timestamp, value)."""
    if history.empty:
        return {}
    # Integer codes and one lexsort: comparing a million run-id strings costs more than everything else.
    # One code per series (run, then key): one column of 8 bytes a point, not two.
    run_codes, run_names = sort_codes(history["run_id"])
    key_codes, key_names = sort_codes(history["key"])
    groups = run_codes.astype(np.int64)
    groups *= len(key_names)
    groups += key_codes
    del run_codes, key_codes
    steps = history["step"].to_numpy(dtype="int64")
    stamps = history["timestamp"].to_numpy(dtype="int64")
    values = history["value"].to_numpy(dtype="float64")
    if not _sorted_lexically(groups, steps, stamps):  # stores mostly give them in order
        order = np.lexsort((stamps, steps, groups))
        groups, steps, stamps, values = groups[order], steps[order], stamps[order], values[order]
    starts = np.concatenate(([0], np.flatnonzero(groups[1:] != groups[:-1]) + 1))
    bounds = [*starts.tolist(), len(values)]
    # Plain lists: indexing a pandas Index per series cost more than the sort. Only each series' first
    # code: the whole column as a list was 5M Python ints (~200 MB) for a 5,000-run experiment.
    run_names, key_names = [str(name) for name in run_names], [str(name) for name in key_names]
    result: dict[str, dict[str, Series]] = {}
    for start, end, group in zip(bounds[:-1], bounds[1:], groups[starts].tolist()):
        run_id, key = run_names[group // len(key_names)], key_names[group % len(key_names)]
        result.setdefault(run_id, {})[key] = Series(run_id, key, steps[start:end], stamps[start:end],
                                                    values[start:end])
    return result


def _sorted_lexically(*columns: np.ndarray) -> bool:
    """Whether the rows are already in the order np.lexsort(columns[::-1]) gives (ties keep their order)."""
    undecided = np.ones(max(0, len(columns[0]) - 1), dtype=bool)  # pairs equal on every column so far
    for column in columns:
        step = np.diff(column)
        if (undecided & (step < 0)).any():
            return False
        undecided &= step == 0
    return True


def sort_codes(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes that order the column's rows as sort_values orders them (a categorical by its
    categories, other columns by value, missing values last), and the value of each code. The codes
    keep the categorical's narrow dtype (which holds one code more than its categories)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes, names = column.cat.codes.to_numpy(), list(column.cat.categories)
    else:
        codes, uniques = pd.factorize(column, sort=True)
        names = list(uniques)
    return np.where(codes < 0, codes.dtype.type(len(names)), codes), names + [math.nan]


def numeric(column: pd.Series) -> pd.Series | None:
    """The column as floats when every non-missing value is a number (params are strings)."""
    if pd.api.types.is_bool_dtype(column):
        return None
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(float)
    converted = pd.to_numeric(column, errors="coerce")
    present = column.notna() & (column.astype(str).str.strip() != "")
    if present.any() and converted[present].notna().all():
        return converted.astype(float)
    return None


def safe_href(value: Any) -> str | None:
    # Only relative links: an href from data must not become javascript: or a remote URL.
    if not isinstance(value, str) or not value or ":" in value.split("/", 1)[0] or value.startswith("//"):
        return None
    return value


def robust_range(values: np.ndarray, *, factor: float = 100.0) -> tuple[float, float] | None:
    """The y range of the values without far outliers (a diverged run at 1e299), or None if there are none.

    Far: beyond the quartiles by `factor` times the interquartile range. Quartiles, not 1%/99% quantiles,
    because a diverged run can be a good share of the points; the large factor leaves steep but normal
    curves (a loss from 1000 down to 0.01) alone. Like TensorBoard's "ignore outliers in chart scaling".
    """
    # Sorted once: the quartiles are read off it, and so are the extremes inside the fences.
    ordered = np.sort(values[np.isfinite(values)])
    if len(ordered) < 10:
        return None
    q25, q75 = _quartiles(ordered)
    iqr = q75 - q25
    if iqr <= 0:
        return None
    low_fence, high_fence = q25 - factor * iqr, q75 + factor * iqr
    if ordered[0] >= low_fence and ordered[-1] <= high_fence:
        return None
    lo = float(ordered[np.searchsorted(ordered, low_fence, side="left")])
    hi = float(ordered[np.searchsorted(ordered, high_fence, side="right") - 1])
    pad = 0.05 * (hi - lo) or 0.05 * abs(hi) or 1.0
    return lo - pad, hi + pad


def _quartiles(ordered: np.ndarray) -> tuple[float, float]:
    """np.quantile(ordered, [0.25, 0.75]) of sorted values (numpy's default, linear method, to the bit):
    np.quantile's own overhead was most of a run page's chart."""
    last = len(ordered) - 1
    low, high = last * 0.25, last * 0.75
    i, j = int(low), int(high)
    a, b, c, d = ordered[[i, min(i + 1, last), j, min(j + 1, last)]].tolist()
    return _lerp(a, b, low - i), _lerp(c, d, high - j)


def _lerp(a: float, b: float, t: float) -> float:
    """numpy's _lerp: from the nearer end, so that t = 1 gives b exactly."""
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def normalise_axis(column: pd.Series) -> tuple[list[float | None], list[tuple[float, str]]]:
    """Positions in [0, 1] for one axis, plus (position, label) ticks to print on it."""
    numbers = numeric(column)
    if numbers is not None:
        finite = numbers[np.isfinite(numbers)]
        if len(finite) and finite.min() > 0 and finite.max() / finite.min() >= 100:
            # Learning rates and other positive values spanning decades read better on a log axis.
            pos, ticks = normalise_axis(np.log10(numbers.where(numbers > 0)))
            return pos, [(p, short_number(10 ** float(t))) for p, t in ticks]
        lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 0.0)
        span = hi - lo
        pos = [None if not math.isfinite(v) else (0.5 if span == 0 else (v - lo) / span) for v in numbers]
        ticks = [(0.5, short_number(lo))] if span == 0 else [(0.0, short_number(lo)), (1.0, short_number(hi))]
        return pos, ticks if len(finite) else []
    # A run without the value has no point on the axis (pandas' where(..., None) would make it NaN: a "nan" category).
    text = [None if missing else value for value, missing in zip(column.tolist(), column.isna().tolist())]
    cats = sorted({str(v) for v in text if v is not None})
    place = {c: (0.5 if len(cats) == 1 else i / (len(cats) - 1)) for i, c in enumerate(cats)}
    pos = [None if v is None else place[str(v)] for v in text]
    step = max(1, len(cats) // 10)  # at most ~10 category labels per axis
    return pos, [(place[c], c[:24]) for c in cats[::step]]


def short_number(value: float) -> str:
    return f"{value:.4g}"
