"""Per-run metric summaries for the pages (last, min, max, step of the best value), from
reportgen.aggregate, in the shape the page contexts look up: (run_id, key) -> MetricSummary.
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import pandas as pd

from reportgen.aggregate import metric_direction, metric_summaries


@functools.lru_cache(maxsize=4096)
def direction(key: str) -> str | None:
    """"min" when a smaller value is better, "max" when larger is better, None when the name does not say."""
    return metric_direction(key)


class MetricSummary(NamedTuple):
    """A read-only record; a tuple, as the pages build one per run and metric (tens of thousands)."""

    last: float
    min: float
    max: float
    best_step: int | None
    count: int


def summarize(history: pd.DataFrame) -> dict[tuple[str, str], MetricSummary]:
    """(run_id, key) -> summary of every series in a metric_histories() frame."""
    frame = metric_summaries(history)
    best_steps = [None if step != step else int(step) for step in frame["best_step"].tolist()]
    columns = (frame["last"].astype("float64").tolist(), frame["min"].astype("float64").tolist(),
               frame["max"].astype("float64").tolist(), best_steps, frame["count"].astype("int64").tolist())
    keys = zip(frame["run_id"].astype(str).tolist(), frame["key"].astype(str).tolist())
    return dict(zip(keys, map(MetricSummary._make, zip(*columns))))


def best_run(values: dict[str, float], key: str) -> str | None:
    """The run id with the best finite value of a metric (ties to the smaller run id); None when the
    metric's direction is unknown or no value is finite."""
    way = direction(key)
    finite = [(value, run_id) for run_id, value in values.items() if isinstance(value, float) and math.isfinite(value)]
    if way is None or not finite:
        return None
    if way == "min":
        return min(finite)[1]
    return min((-value, run_id) for value, run_id in finite)[1]
