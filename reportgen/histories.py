"""Metric histories for charts: downsampling with tsdownsample (first, last, min, max and NaN gaps
kept) and wall-time / relative-time columns. Input is Store.metric_histories' long frame."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd
from tsdownsample import MinMaxLTTBDownsampler

from reportgen.errors import ReportgenError
from reportgen.model import Run

HISTORY_COLUMNS = ["run_id", "key", "step", "timestamp", "value"]
DEFAULT_MAX_POINTS = 1000
# tsdownsample's LTTB asserts n_out >= 3 (a Rust panic, not an exception): below that we keep only
# the extremes ourselves.
_MIN_DOWNSAMPLER_POINTS = 3
_DOWNSAMPLER = MinMaxLTTBDownsampler()


def _resolve_downsample() -> Callable[[np.ndarray, np.ndarray, int], np.ndarray]:
    """tsdownsample's compiled float64 MinMaxLTTB, skipping its per-call dtype dispatch (which costs
    more than the work on a 1000-point series); the public method when its internals change."""
    try:
        compiled = _DOWNSAMPLER._switch_mod_with_x_and_y(  # noqa: SLF001
            np.dtype("float64"), np.dtype("float64"), _DOWNSAMPLER.mod_single_core
        )
        return lambda x, y, n_out: compiled(x, y, n_out, ratio=4)
    except Exception:  # pragma: no cover - depends on the installed tsdownsample
        return lambda x, y, n_out: _DOWNSAMPLER.downsample(x, y, n_out=n_out)


_minmax_lttb = _resolve_downsample()


def _check_history(histories: pd.DataFrame) -> None:
    missing = [c for c in HISTORY_COLUMNS if c not in histories.columns]
    if missing:
        raise ReportgenError(f"A history frame needs the columns {HISTORY_COLUMNS}; missing {missing}")


def _series_bounds(histories: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The frame sorted by run_id, key, step, timestamp, and the start offset of each (run, key)
    plus the end. Sorting integer codes is much cheaper than sorting the string columns, and a
    frame that is already in order (what Store.metric_histories returns) is not copied."""
    run_codes = pd.factorize(histories["run_id"], sort=True)[0]
    key_codes = pd.factorize(histories["key"], sort=True)[0]
    order = np.lexsort((histories["timestamp"].to_numpy(), histories["step"].to_numpy(), key_codes, run_codes))
    if len(order) and not np.array_equal(order, np.arange(len(order))):
        histories, run_codes, key_codes = histories.take(order), run_codes[order], key_codes[order]
    ordered = histories.reset_index(drop=True)
    change = np.ones(len(ordered), dtype=bool)
    if len(ordered):
        change[1:] = (run_codes[1:] != run_codes[:-1]) | (key_codes[1:] != key_codes[:-1])
    return ordered, np.append(np.flatnonzero(change), len(ordered))


def _keep_finite(steps: np.ndarray, values: np.ndarray, budget: int) -> np.ndarray:
    """Positions (into values) of at most `budget` non-NaN points: first, last, min and max first,
    then MinMaxLTTB's picks. ±inf count as extremes; the downsampler sees them clipped to the
    finite range (it needs finite numbers to compare triangle areas)."""
    real = np.flatnonzero(~np.isnan(values))
    if len(real) <= budget:
        return real
    y = values[real]
    # In priority order, for when the budget is tiny.
    must = np.array(list(dict.fromkeys([0, len(y) - 1, int(np.argmin(y)), int(np.argmax(y))]))[:budget])
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
    runs_of_nan = int(np.count_nonzero(np.diff(np.concatenate(([0], np.isnan(values).astype(np.int8)))) == 1))
    # With g NaN runs, b kept points leave at most min(g, b + 1) gaps to mark: choose b so both fit.
    budget = max_points - runs_of_nan if runs_of_nan <= max_points // 2 else (max_points - 1) // 2
    kept = _keep_finite(steps, values, max(budget, 1))
    if not len(kept):  # all NaN: one gap, shown by the first and last rows
        return np.array([0, count - 1])
    return np.sort(np.concatenate([kept, _gap_markers(values, kept)]))


def downsample_histories(histories: pd.DataFrame, *, max_points: int = DEFAULT_MAX_POINTS) -> pd.DataFrame:
    """At most max_points rows per (run_id, key) series, same columns, sorted by run_id, key, step.

    Series already short enough are kept whole without touching tsdownsample; longer ones keep
    their first, last, min and max points, MinMaxLTTB's picks and a NaN row per surviving gap.
    """
    _check_history(histories)
    if max_points < 2:
        raise ReportgenError(f"max_points must be at least 2 (first and last), got {max_points}")
    ordered, bounds = _series_bounds(histories)
    lengths = np.diff(bounds)
    if not len(lengths) or lengths.max() <= max_points:
        return ordered
    keep = np.ones(len(ordered), dtype=bool)
    steps = ordered["step"].to_numpy()
    values = ordered["value"].to_numpy(dtype="float64")
    for series in np.flatnonzero(lengths > max_points):
        start, stop = bounds[series], bounds[series + 1]
        keep[start:stop] = False
        keep[start + downsample_series(steps[start:stop], values[start:stop], max_points)] = True
    return ordered[keep].reset_index(drop=True)


def with_times(histories: pd.DataFrame, runs: Sequence[Run] | pd.DataFrame | None = None) -> pd.DataFrame:
    """histories plus `wall_time` (UTC datetime of each point) and `relative_time` (seconds since the
    run started: its start_time when known, else its first logged point)."""
    _check_history(histories)
    frame = histories.copy()
    stamps = frame["timestamp"].to_numpy(dtype="int64")
    frame["wall_time"] = pd.to_datetime(stamps, unit="ms", utc=True)
    starts = frame.groupby("run_id", sort=False)["timestamp"].transform("min").to_numpy(dtype="float64")
    known = _start_times(runs)
    if known:
        from_runs = frame["run_id"].map(known).to_numpy(dtype="float64", na_value=np.nan)
        starts = np.where(np.isnan(from_runs), starts, from_runs)
    frame["relative_time"] = (stamps - starts) / 1000.0
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
