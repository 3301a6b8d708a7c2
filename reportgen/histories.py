"""Metric histories for charts: the one downsampler (tsdownsample's MinMaxLTTB, keeping first, last,
min, max and NaN gaps), used by the frames (downsample_histories) and by every chart (through
chartdata.downsample_indices), and wall-time / relative-time columns. Input is Store.metric_histories'
long frame."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from tsdownsample import MinMaxLTTBDownsampler

from reportgen.errors import ReportgenError
from reportgen.frames import millis_to_utc
from reportgen.model import Run

HISTORY_COLUMNS = ["run_id", "key", "step", "timestamp", "value"]
DEFAULT_MAX_POINTS = 1000
# tsdownsample's LTTB asserts n_out >= 3 (a Rust panic, not an exception): below that we keep only
# the extremes ourselves.
_MIN_DOWNSAMPLER_POINTS = 3
_DOWNSAMPLER = MinMaxLTTBDownsampler()


def _minmax_lttb(x: np.ndarray, y: np.ndarray, n_out: int) -> np.ndarray:
    """Positions MinMaxLTTB keeps (tsdownsample's public call: its dtype dispatch costs ~50 us a
    series, which a private entry point would save, but internals change between versions)."""
    return _DOWNSAMPLER.downsample(x, y, n_out=n_out)


def _check_history(histories: pd.DataFrame) -> None:
    missing = [c for c in HISTORY_COLUMNS if c not in histories.columns]
    if missing:
        raise ReportgenError(f"A history frame needs the columns {HISTORY_COLUMNS}; missing {missing}")


def series_codes(histories: pd.DataFrame) -> tuple[np.ndarray, pd.Index, pd.Index]:
    """One int64 code per row for its (run_id, key) series, ordered like (run_id, key) strings,
    with the sorted run ids and keys: code = run_position * len(keys) + key_position."""
    run_codes, run_ids = pd.factorize(histories["run_id"], sort=True)
    key_codes, keys = pd.factorize(histories["key"], sort=True)
    return run_codes.astype(np.int64) * max(len(keys), 1) + key_codes, pd.Index(run_ids), pd.Index(keys)


def series_order(group: np.ndarray, steps: np.ndarray, stamps: np.ndarray) -> np.ndarray | None:
    """Row order by series, step, timestamp; None when the rows are already in that order (what
    Store.metric_histories returns), which is checked in one linear pass instead of sorted again."""
    if len(group) < 2:
        return None
    d_group, d_step, d_stamp = np.diff(group), np.diff(steps), np.diff(stamps)
    if np.all((d_group > 0) | ((d_group == 0) & ((d_step > 0) | ((d_step == 0) & (d_stamp >= 0))))):
        return None
    return np.lexsort((stamps, steps, group))


def _series_bounds(histories: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The frame sorted by run_id, key, step, timestamp, and the start offset of each (run, key)
    series plus the end. A frame already in order is not copied."""
    group = series_codes(histories)[0]
    order = series_order(group, histories["step"].to_numpy(), histories["timestamp"].to_numpy())
    if order is not None:
        histories, group = histories.take(order), group[order]
    ordered = histories.reset_index(drop=True)
    change = np.ones(len(ordered), dtype=bool)
    change[1:] = group[1:] != group[:-1]
    return ordered, np.append(np.flatnonzero(change), len(ordered))


def _keep_finite(steps: np.ndarray, values: np.ndarray, budget: int) -> np.ndarray:
    """Positions (into values) of at most `budget` non-NaN points: first, last, min and max first,
    then MinMaxLTTB's picks. ±inf count as extremes; the downsampler sees them clipped to the
    finite range (it needs finite numbers to compare triangle areas)."""
    real = np.flatnonzero(~np.isnan(values))
    if len(real) <= budget:
        return real
    y = values[real]
    # In priority order, for when the budget is tiny: the series' first and last rows when they are points
    # (a NaN there is kept as a gap marker instead), the min and the max, then the first and last points.
    ends = [position for position, row in ((0, 0), (len(y) - 1, len(values) - 1)) if real[position] == row]
    must = np.array(list(dict.fromkeys([*ends, int(np.argmin(y)), int(np.argmax(y)), 0, len(y) - 1]))[:budget])
    rest = budget - len(must)
    if rest >= _MIN_DOWNSAMPLER_POINTS:
        finite = np.isfinite(y)
        if not finite.all():
            low, high = (y[finite].min(), y[finite].max()) if finite.any() else (0.0, 0.0)
            y = np.clip(np.nan_to_num(y, posinf=high, neginf=low), low, high)
        picked = _minmax_lttb(
            np.ascontiguousarray(steps[real], dtype="float64"), np.ascontiguousarray(y, dtype="float64"), rest
        )
        # At most `rest` picks plus the required points: never more than the budget.
        must = np.union1d(must, picked.astype(np.int64))
    return real[np.sort(must)]


def _gap_markers(values: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """One NaN row for each interval between kept points that held a NaN in the original series:
    the first NaN of the interval, but the last one after the last kept point so the final row stays."""
    nan_positions = np.flatnonzero(np.isnan(values))
    if not len(nan_positions):
        return nan_positions
    interval = np.searchsorted(kept, nan_positions)  # 0 = before the first kept point
    first_of_interval = np.ones(len(nan_positions), dtype=bool)
    first_of_interval[1:] = interval[1:] != interval[:-1]
    markers = nan_positions[first_of_interval]
    if interval[-1] == len(kept):
        markers[-1] = nan_positions[-1]
    return markers


def downsample_series(steps: np.ndarray, values: np.ndarray, max_points: int) -> np.ndarray:
    """Sorted positions to keep of one series (sorted by step): at most max_points rows, keeping the
    first and last rows, the min and max values, and a NaN row in every gap that survives."""
    count = len(values)
    if count <= max_points:
        return np.arange(count)
    nan = np.isnan(values)
    runs_of_nan = int(np.count_nonzero(np.diff(np.concatenate(([0], nan.astype(np.int8)))) == 1))
    # With g NaN runs, b kept points leave at most min(g, b + 1 - e) gaps to mark, e being how many of the
    # series' first and last rows are points: the largest b for which both fit.
    ends = int(not nan[0]) + int(not nan[-1])
    budget = max_points
    while budget > 1 and budget + min(runs_of_nan, budget + 1 - ends) > max_points:
        budget -= 1
    kept = _keep_finite(steps, values, budget)
    if not len(kept):  # all NaN: one gap, shown by the first and last rows
        return np.array([0, count - 1])
    return np.sort(np.concatenate([kept, _gap_markers(values, kept)]))


def _first_extreme(values: np.ndarray, starts: np.ndarray, series_of_row: np.ndarray, ufunc) -> np.ndarray:
    """Per contiguous series, the position of the first row equal to its min (or max)."""
    extreme = ufunc.reduceat(values, starts)
    positions = np.where(values == extreme[series_of_row], np.arange(len(values)), len(values))
    return np.minimum.reduceat(positions, starts)


def downsample_histories(histories: pd.DataFrame, *, max_points: int = DEFAULT_MAX_POINTS) -> pd.DataFrame:
    """At most max_points rows per (run_id, key) series, same columns, sorted by run_id, key, step.

    Series already short enough are kept whole. Longer all-finite series (the usual case) keep
    their first, last, min and max rows, found for all series at once, plus MinMaxLTTB's picks;
    series with NaN or ±inf go through downsample_series, which also keeps a NaN row per gap.
    """
    _check_history(histories)
    if max_points < 2:
        raise ReportgenError(f"max_points must be at least 2 (first and last), got {max_points}")
    ordered, bounds = _series_bounds(histories)
    lengths = np.diff(bounds)
    if not len(lengths) or lengths.max() <= max_points:
        return ordered
    keep = np.repeat(lengths <= max_points, lengths)
    steps = ordered["step"].to_numpy(dtype="float64")
    values = ordered["value"].to_numpy(dtype="float64")
    long = np.flatnonzero(lengths > max_points)
    all_finite = np.logical_and.reduceat(np.isfinite(values), bounds[:-1])
    fast = long[all_finite[long]] if max_points - 4 >= _MIN_DOWNSAMPLER_POINTS else long[:0]
    for series in np.setdiff1d(long, fast):
        start, stop = bounds[series], bounds[series + 1]
        keep[start + downsample_series(steps[start:stop], values[start:stop], max_points)] = True
    if len(fast):
        starts, stops = bounds[fast], bounds[fast + 1]
        # Rows of the fast series only, in one array, so reduceat sees contiguous segments.
        rows = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)])
        local_starts = np.concatenate(([0], np.cumsum(stops - starts)[:-1]))
        series_of_row = np.repeat(np.arange(len(fast)), stops - starts)
        sub = values[rows]
        for ufunc in (np.minimum, np.maximum):
            keep[rows[_first_extreme(sub, local_starts, series_of_row, ufunc)]] = True
        keep[starts] = True
        keep[stops - 1] = True
        n_out = max_points - 4  # leaves room for first, last, min and max
        for start, stop in zip(starts.tolist(), stops.tolist()):
            keep[start + _minmax_lttb(steps[start:stop], values[start:stop], n_out)] = True
    return ordered[keep].reset_index(drop=True)


def with_times(histories: pd.DataFrame, runs: Sequence[Run] | pd.DataFrame | None = None) -> pd.DataFrame:
    """histories plus `wall_time` (UTC datetime of each point) and `relative_time` (seconds since the
    run started: its start_time when known, else its first logged point)."""
    _check_history(histories)
    frame = histories.copy()
    stamps = frame["timestamp"].to_numpy(dtype="int64")
    frame["wall_time"] = millis_to_utc(stamps)
    codes, run_ids = pd.factorize(frame["run_id"])
    first_point = pd.Series(stamps).groupby(codes).min().reindex(range(len(run_ids))).to_numpy(dtype="float64")
    known = _start_times(runs)
    starts = np.array([known.get(r, first) for r, first in zip(run_ids, first_point)], dtype="float64")
    frame["relative_time"] = (stamps - starts[codes]) / 1000.0 if len(frame) else np.array([], dtype="float64")
    return frame


def _start_times(runs: Sequence[Run] | pd.DataFrame | None) -> dict[str, float]:
    if runs is None:
        return {}
    if isinstance(runs, pd.DataFrame):
        start = runs["start_time"]
        if pd.api.types.is_datetime64_any_dtype(start):
            millis = start.dt.tz_convert(None) if isinstance(start.dtype, pd.DatetimeTZDtype) else start
            values = millis.to_numpy().astype("datetime64[ms]")
            numbers = np.where(np.isnat(values), np.nan, values.view("int64").astype("float64"))
        else:
            numbers = pd.to_numeric(start, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        return {r: s for r, s in zip(runs["run_id"], numbers) if not np.isnan(s)}
    return {r.info.run_id: float(r.info.start_time) for r in runs if r.info.start_time is not None}
