"""Run-page history charts at the cost of a string join each: RunHistorySpecs fills one cached spec
text per metric key with a run's series (split out of the experiment's history by split_history).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reportgen import charts
from reportgen.chartdata import clean_text, robust_range
from reportgen.site.jsonblock import RawJSON, json_text

try:  # optional, only to format numbers faster (see _numbers_json)
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None


class RunHistorySpecs:
    """Single-run history specs for many run pages at the cost of one Altair call per metric key.

    Building a spec through Altair takes milliseconds; 2000 runs x a few metrics would take long. The
    first run's spec of each key is the template; later runs get its JSON text with
    their own series filled in, built exactly as charts.history_chart builds one (tests compare both).
    """

    def __init__(self, *, max_points: int, height: int = 180,
                 templates: dict[tuple[str, bool], list[str]] | None = None) -> None:
        """templates: those of an earlier instance with the same max_points and height (and code)."""
        self.max_points = max_points
        self.height = height
        self.templates: dict[tuple[str, bool], list[str]] = {} if templates is None else templates
        self.budget = max(charts.MIN_POINTS, min(max_points, charts.MAX_ROWS))
        # Runs logged at the same cadence share their step and time-offset arrays: the JSON text of each
        # distinct array is made once (keyed by its bytes), half of the run pages' chart encoding otherwise.
        self._numbers: dict[tuple[str, bytes], str] = {}
        self._texts: dict[str, str] = {}

    def spec(self, run_id: str, label: str, key: str, series: "Series") -> dict | RawJSON:
        n = len(series.value)
        keep = None if n <= self.budget else charts.downsample_indices(series.value, self.budget)
        kept_rows = n if keep is None else len(keep)
        # The spec's shape depends on the key and on whether the line is short enough for point marks;
        # a run with far outliers gets its own y range (robust_range), so no template fits it.
        shape = (key, kept_rows <= charts.POINTS_UP_TO)
        template = self.templates.get(shape)
        outliers = not _no_far_outliers(series.value if keep is None else series.value[keep])
        if template is None or outliers:
            frame = pd.DataFrame({"run_id": run_id, "key": key, "step": series.step,
                                  "timestamp": series.timestamp, "value": series.value})
            spec = charts.history_chart(frame, title=key, run_labels={run_id: label},
                                        max_points=self.max_points, height=self.height)
            if not outliers:
                self.templates[shape] = _SENTINEL_RE.split(_placeholder_text(spec))
            return spec
        fills = {_DATA_JSON: self._series_json(run_id, label, key, series, keep),
                 _LABEL_JSON: self._text(label), _ROWS_JSON: str(kept_rows)}
        return RawJSON("".join(fills.get(part, part) if n % 2 else part for n, part in enumerate(template)))

    def _text(self, text: str) -> str:
        """json_text of the cleaned text (cached: keys and ids repeat across charts)."""
        found = self._texts.get(text)
        if found is None:
            found = json_text(clean_text(str(text)))
            if len(self._texts) < 100_000:
                self._texts[text] = found
        return found

    def _shared(self, kind: str, array: np.ndarray) -> str:
        cache_key = (kind, array.tobytes())
        found = self._numbers.get(cache_key)
        if found is None:
            found = _numbers_json(array.tolist())
            if len(self._numbers) >= 3_000:  # bounded memory; a recent run's arrays are the likely hits
                self._numbers.clear()
            self._numbers[cache_key] = found
        return found

    def _series_json(self, run_id: str, label: str, key: str, series: "Series", keep: np.ndarray | None) -> str:
        """json_text of the series object charts.history_chart makes (sorted keys, compact): numbers
        through the C encoder, strings cleaned and escaped for HTML."""
        stamps, steps, values = series.timestamp, series.step, series.value
        start = int(stamps.min()) if len(stamps) else 0
        if keep is not None:
            stamps, steps, values = stamps[keep], steps[keep], values[keep]
        if np.isfinite(values).all():
            ys = _numbers_json(values.tolist())
        else:
            ys = _numbers_json([v if math.isfinite(v) else None for v in values.tolist()])
        return (f'{{"c":{self._text(label)},"dt":{self._shared("dt", stamps - start)},"id":{self._text(run_id)},'
                f'"k":{self._text(key)},"t0":{start},"x":{self._shared("x", steps)},"y":{ys}}}')


def _numbers_json(numbers: list) -> str:
    """JSON text of a list of finite numbers and None, byte for byte what json.dumps writes (no HTML
    escaping needed). Formatting floats is most of a run page's charts; orjson, when installed, does it
    ~20x faster. It writes exponents its own way ("1e16", "2.5e-7", "0.00001" for Python's "1e+16",
    "2.5e-07", "1e-05"), so a text holding one of those is made by json instead."""
    if _orjson is not None:
        text = _orjson.dumps(numbers)
        if b"e" not in text and b"0.0000" not in text:
            return text.decode("ascii")
    # allow_nan=False: a NaN token here would be a bug.
    return json.dumps(numbers, separators=(",", ":"), allow_nan=False)


def _no_far_outliers(values: np.ndarray) -> bool:
    """Whether chartdata.robust_range(values) is None (the chart's y range is the data's), mostly without
    its quantiles: two partition points bound them (a[ceil(p25)] >= q25, a[floor(p75)] <= q75), and when
    every value lies well inside the range those bounds give, it lies inside robust_range's too."""
    finite = values if np.isfinite(values).all() else values[np.isfinite(values)]
    count = len(finite)
    if count < 10:
        return True
    low, high = math.ceil((count - 1) * 0.25), math.floor((count - 1) * 0.75)
    part = np.partition(finite, (low, high))
    spread = float(part[high] - part[low])  # at most the interquartile range
    if spread > 0:
        reach = 99.0 * spread  # robust_range allows 100 interquartile ranges: a margin for rounding
        if float(finite.min()) >= part[low] - reach and float(finite.max()) <= part[high] + reach:
            return True
    return robust_range(values) is None


@dataclass(frozen=True)
class Series:
    step: np.ndarray
    timestamp: np.ndarray
    value: np.ndarray


def split_history(history: pd.DataFrame) -> dict[str, dict[str, Series]]:
    """run_id -> key -> its points, ordered by step then timestamp, in one pass over the frame."""
    if history.empty:
        return {}
    # Integer codes and one lexsort: comparing a million run-id strings costs more than everything else.
    run_codes, run_names = pd.factorize(history["run_id"], sort=True)
    key_codes, key_names = pd.factorize(history["key"], sort=True)
    steps = history["step"].to_numpy(dtype="int64")
    stamps = history["timestamp"].to_numpy(dtype="int64")
    values = history["value"].to_numpy(dtype="float64")
    if not _sorted_lexically(run_codes, key_codes, steps, stamps):  # stores mostly give them in order
        order = np.lexsort((stamps, steps, key_codes, run_codes))
        run_codes, key_codes = run_codes[order], key_codes[order]
        steps, stamps, values = steps[order], stamps[order], values[order]
    change = np.flatnonzero((run_codes[1:] != run_codes[:-1]) | (key_codes[1:] != key_codes[:-1])) + 1
    bounds = np.concatenate(([0], change, [len(values)])).tolist()
    # Plain lists: indexing a pandas Index per series cost more than the sort.
    run_names, key_names = [str(name) for name in run_names], [str(name) for name in key_names]
    run_codes, key_codes = run_codes.tolist(), key_codes.tolist()
    result: dict[str, dict[str, Series]] = {}
    for start, end in zip(bounds[:-1], bounds[1:]):
        run_id, key = run_names[run_codes[start]], key_names[key_codes[start]]
        result.setdefault(run_id, {})[key] = Series(steps[start:end], stamps[start:end], values[start:end])
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


_DATA, _LABEL, _ROWS = "\x00RG-DATA\x00", "\x00RG-LABEL\x00", "\x00RG-ROWS\x00"
_DATA_JSON, _LABEL_JSON, _ROWS_JSON = json_text(_DATA), json_text(_LABEL), json_text(_ROWS)
# Splitting on a capturing group keeps the sentinels at the odd positions of the parts.
_SENTINEL_RE = re.compile("(" + "|".join(re.escape(t) for t in (_DATA_JSON, _LABEL_JSON, _ROWS_JSON)) + ")")


def _placeholder_text(template: dict) -> str:
    """The template's JSON text with sentinels where each run's series, label and row count go."""
    spec = dict(template)
    spec["data"] = {"values": [_DATA]}
    encoding = dict(spec["encoding"])
    color = dict(encoding["color"])
    color["scale"] = {**color.get("scale", {}), "domain": [_LABEL]}
    encoding["color"] = color
    spec["encoding"] = encoding
    meta = dict(spec["usermeta"]["reportgen"])
    meta["rows"] = _ROWS
    spec["usermeta"] = {**spec["usermeta"], "reportgen": meta}
    return json_text(spec)
